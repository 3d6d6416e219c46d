//! One prepared window answering all three analyses.
//!
//! `clusters`, `hosts` and `drivers` each read the crash table and prepare it (window, integer
//! keys, host state machine) — right for one CLI command. A process that wants all three (a
//! report, the TUI, the benchmark) prepares once with [`Analysis::new`] and asks each question
//! of the same prepared rows: the crash table is read once, the state machine runs once, the
//! inventory is coded once. Results are identical to the one-shot functions.

use polars::prelude::*;

use super::clusters::{self, ClusterOptions, ClusterTable};
use super::drivers::{self, DriverCatalog, DriverOptions, DriverTable};
use super::exemplar::{self, Exemplar};
use super::hosts::{self, HostOptions, HostTable};
use super::hoststate::HostStateParams;
use super::period::{self, CrashFree};
use super::prepare::{self, InventoryCodes, Prepared};
use super::window::Window;
use super::AnalyticsError;

/// A crash table prepared for one window and one set of host-state thresholds.
pub struct Analysis {
    crashes: LazyFrame,
    inventory: Option<DataFrame>,
    window: Window,
    host_states: HostStateParams,
    prepared: Prepared,
    codes: Option<InventoryCodes>,
}

impl Analysis {
    /// Reads and prepares `crashes` (store columns) for `window`.
    pub fn new(
        crashes: LazyFrame,
        inventory: Option<DataFrame>,
        window: Window,
        host_states: HostStateParams,
    ) -> Result<Analysis, AnalyticsError> {
        let prepared = prepare::prepare(crashes.clone(), &window, host_states)?;
        let codes = match &inventory {
            Some(inv) => Some(prepared.host_inventory_codes(inv)?),
            None => None,
        };
        Ok(Analysis {
            crashes,
            inventory,
            window,
            host_states,
            prepared,
            codes,
        })
    }

    /// Refines host states with heartbeats (`down`, `recovered` on a check-in; issue 15), as
    /// `hosts` and `clusters` do. A no-op without heartbeats.
    pub fn apply_heartbeats(
        &mut self,
        heartbeats: Option<&crate::fleet::heartbeats::Heartbeats>,
    ) -> Result<(), AnalyticsError> {
        super::heartbeat_states::apply(
            &mut self.prepared,
            heartbeats,
            &self.window,
            &self.host_states,
        )
    }

    /// The options' window and thresholds must be the ones prepared.
    fn check(
        &self,
        window: &Window,
        host_states: Option<&HostStateParams>,
    ) -> Result<(), AnalyticsError> {
        if *window != self.window || host_states.is_some_and(|h| *h != self.host_states) {
            return Err(AnalyticsError::BadArgument(
                "the options' window or host-state thresholds differ from the prepared analysis'"
                    .into(),
            ));
        }
        Ok(())
    }

    /// As `analytics::clusters`.
    pub fn clusters(
        &self,
        drivers: Option<LazyFrame>,
        opts: &ClusterOptions,
    ) -> Result<ClusterTable, AnalyticsError> {
        self.check(&opts.scope.window, Some(&opts.host_states))?;
        clusters::cluster_table(
            &self.prepared,
            self.crashes.clone(),
            drivers,
            self.inventory.as_ref(),
            self.codes.as_ref(),
            opts,
        )
    }

    /// As `analytics::hosts`.
    pub fn hosts(&self, opts: &HostOptions) -> Result<HostTable, AnalyticsError> {
        self.check(&opts.scope.window, Some(&opts.host_states))?;
        hosts::host_table(
            &self.prepared,
            self.inventory.as_ref(),
            self.codes.as_ref(),
            opts,
        )
    }

    /// As `analytics::drivers`.
    pub fn drivers(
        &self,
        drivers: LazyFrame,
        catalog: &dyn DriverCatalog,
        opts: &DriverOptions,
    ) -> Result<DriverTable, AnalyticsError> {
        self.check(&opts.scope.window, None)?;
        drivers::driver_table(
            &self.prepared.base,
            drivers,
            self.inventory.as_ref(),
            catalog,
            opts,
        )
    }

    /// Inventory hosts (in the scope's inventory filters) with no crash in the window; `None`
    /// without an inventory.
    pub fn crash_free(&self, scope: &super::Scope) -> Result<Option<CrashFree>, AnalyticsError> {
        self.check(&scope.window, None)?;
        period::crash_free(&self.prepared, self.inventory.as_ref(), scope)
    }

    /// The window this analysis was prepared for.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// One example crash per signature-level cluster id (`ClusterNode::id` of a signature
    /// node): its stored bugcheck, parameters, fault and frames.
    pub fn exemplars(
        &self,
        signature_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, Exemplar>, AnalyticsError> {
        exemplar::exemplars(&self.prepared, self.crashes.clone(), signature_ids)
    }
}
