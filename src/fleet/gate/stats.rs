//! The gate's statistics: a one-sided Fisher exact test on hosts crashed / not crashed.
//!
//! Why Fisher and not a normal approximation: a canary ring is small (tens of hosts) and a new
//! crash cluster is usually absent from the baseline (zero counts), exactly where chi-square
//! and z-tests are wrong. Why log space: the hypergeometric probabilities are ratios of
//! binomial coefficients that overflow `f64` past 170!, and a broad ring has thousands of
//! hosts; `ln Γ` keeps every term finite.

/// Lanczos coefficients (g = 7, n = 9), good to about 15 significant digits for x > 0.
const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// `ln Γ(x)` for `x > 0` (Lanczos approximation; reflection below 0.5).
pub fn ln_gamma(x: f64) -> f64 {
    if x < 0.5 {
        // Γ(x) Γ(1 - x) = π / sin(πx)
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = LANCZOS[0];
    for (i, c) in LANCZOS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + LANCZOS_G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// `ln C(n, k)`; `-inf` when `k > n` (no way to choose).
pub fn ln_choose(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    if k == 0 || k == n {
        return 0.0;
    }
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// One-sided Fisher exact test that the first group's share is greater than the second's:
/// `a` of `n` hosts crashed after the change, `b` of `m` in the baseline. Returns the p-value
/// `P(X >= a)` with `X` hypergeometric (the table's margins fixed), as SciPy's
/// `fisher_exact([[a, n - a], [b, m - b]], alternative='greater')`. Counts above their group
/// size are clamped (the caller counts hosts, so this does not happen).
pub fn fisher_greater(a: u64, n: u64, b: u64, m: u64) -> f64 {
    let a = a.min(n);
    let b = b.min(m);
    if a == 0 {
        return 1.0;
    }
    let total = n.saturating_add(m);
    let crashed = a.saturating_add(b);
    let ln_all = ln_choose(total, n);
    let top = n.min(crashed);
    let mut p = 0.0;
    for x in a..=top {
        let ln_term = ln_choose(crashed, x) + ln_choose(total - crashed, n - x) - ln_all;
        p += ln_term.exp();
    }
    p.clamp(0.0, 1.0)
}

/// Holm-Bonferroni adjusted p-values, in the input order. The gate tests every cluster seen on
/// the ring, and a ring shows several background clusters every day: at 0.01 each, a clean
/// change would be halted every few rollouts. Holm keeps the chance of any false halt across
/// the clusters below alpha, and a real regression (p around 1e-6 in a canary) still clears it.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let k = p_values.len();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut adjusted = vec![1.0; k];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let scaled = (p_values[i] * (k - rank) as f64).min(1.0);
        running = running.max(scaled);
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, rel: f64) -> bool {
        (got - want).abs() <= rel * want.abs().max(f64::MIN_POSITIVE)
    }

    /// Reference values: `scipy.special.gammaln(x)` (SciPy 1.x), printed with `repr`.
    #[test]
    fn ln_gamma_matches_scipy_gammaln() {
        for (x, want) in [
            (0.5, 0.5723649429247),
            (10.0, 12.801827480081469),
            (100.5, 361.43554046777757),
            (1001.0, 5912.128178488164),
            (1_000_001.0, 12815518.384658169),
        ] {
            assert!(close(ln_gamma(x), want, 1e-12), "{x}: {}", ln_gamma(x));
        }
        assert!(ln_gamma(1.0).abs() < 1e-13);
        assert!(ln_gamma(2.0).abs() < 1e-13);
        // C(10, 3) = 120, C(52, 5) = 2,598,960
        assert!(close(ln_choose(10, 3).exp(), 120.0, 1e-12));
        assert!(close(ln_choose(52, 5).exp(), 2_598_960.0, 1e-12));
        assert_eq!(ln_choose(3, 4), f64::NEG_INFINITY);
    }

    /// Each case is `(a, n, b, m, p)` with `p` from
    /// `scipy.stats.fisher_exact([[a, n-a], [b, m-b]], alternative='greater').pvalue`
    /// (SciPy 1.x), printed with `repr`.
    #[test]
    fn fisher_greater_matches_scipy() {
        let cases: [(u64, u64, u64, u64, f64); 10] = [
            // 3 of a 10-host ring vs 0 of the same 10 hosts before: not significant alone.
            (3, 10, 0, 10, 0.10526315789473684),
            // One crash in a 5-host ring against 500 clean hosts: just under 0.01.
            (1, 5, 0, 500, 0.009900990099009901),
            (6, 22, 0, 600, 9.504057084191554e-10),
            (2, 30, 1, 600, 0.006390643707991029),
            (0, 10, 3, 100, 1.0),
            (5, 40, 5, 40, 0.6314839364861713),
            // Large rings: 10,000 and 200,000 hosts (factorials far past f64's range).
            (30, 10_000, 5, 200_000, 5.304739775680408e-35),
            (11, 1_000, 100, 100_000, 1.634144291907566e-08),
            (10, 1_000, 100, 100_000, 1.6637712496171055e-07),
            (1, 1, 0, 1, 0.5),
        ];
        for (a, n, b, m, want) in cases {
            let got = fisher_greater(a, n, b, m);
            assert!(
                close(got, want, 1e-9),
                "fisher_greater({a}, {n}, {b}, {m}) = {got:e}, SciPy {want:e}"
            );
        }
        // An empty baseline says nothing: every table with these margins is the observed one.
        assert_eq!(fisher_greater(4, 4, 0, 0), 1.0);
        assert_eq!(fisher_greater(0, 0, 0, 0), 1.0);
    }

    /// Reference values: `statsmodels.stats.multitest.multipletests(p, method='holm')[1]`.
    #[test]
    fn holm_matches_statsmodels() {
        let cases: [(&[f64], &[f64]); 4] = [
            (&[0.01, 0.04, 0.03, 0.005], &[0.03, 0.06, 0.06, 0.02]),
            (
                &[0.009025053345622772, 0.0566],
                &[0.018050106691245543, 0.0566],
            ),
            (&[1e-6, 0.2, 0.5], &[3e-6, 0.4, 0.5]),
            (&[0.3], &[0.3]),
        ];
        for (p, want) in cases {
            let got = holm(p);
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want.iter()) {
                assert!(
                    close(*g, *w, 1e-12),
                    "holm({p:?}) = {got:?}, statsmodels {want:?}"
                );
            }
        }
        assert!(holm(&[]).is_empty());
    }
}
