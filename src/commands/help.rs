//! The text that ends each command's `--help`: two or three real examples and the terms the
//! command's output uses. Kept in one place so the vocabulary (host states, columns) reads
//! the same in every command.

/// The host states, as every command names them.
macro_rules! host_states {
    () => {
        "Host states (judged at the end of the data):
  down        crashed, and no heartbeat since for longer than --recovery-window (with
              scan --heartbeats; the dispatch list)
  boot-loop   crashes soon after boot (--loop-uptime), each less than --loop-gap apart, up to
              the end of the data; \"looping, dumps rotated\" when Windows rotated the newest
              dumps away but the kept ones show the loop under way
  failing     several crashes, the last within --recovery-window of the end, not a loop
  single      one crash, within --recovery-window of the end
  recovered   no crash for --recovery-window before the end of the data"
    };
}

pub const TOP: &str = "Examples:
  blastradius scan /mnt/dumps --inventory hosts.csv --store ./crash-store
  blastradius clusters --store ./crash-store
  blastradius hosts --state boot-loop --fail-if state=boot-loop

Exit codes: 0 ok, 1 a bad finding (gate halt, --fail-if matched), 2 usage or fatal error.";

pub const INSPECT: &str = "Examples:
  blastradius inspect C:/Windows/Minidump/071924-12345-01.dmp
  blastradius inspect --format json *.dmp | jq .blame
  blastradius inspect --drivers --symbols 'srv*./symbols*https://msdl.microsoft.com/download/symbols' x.dmp

Terms: blame = the module the crash is charged to (third-party drivers before Microsoft's);
bucket = bugcheck + failure class + blamed symbol, the grouping Windows Error Reporting uses.";

pub const SCAN: &str = "Examples:
  blastradius scan sample-dumps/dumps --inventory sample-dumps/inventory.csv --store ./crash-store
  blastradius scan /mnt/dumps --jobs 8 --store ./crash-store      (again: only new dumps are read)
  blastradius scan /mnt/dumps --shard 3/8 --store ./shard3         (then `store merge`)

--jobs: worker threads, 1 .. 4x the cores (more is capped with a warning).
--batch-size: rows written per commit, at least 1.";

pub const STORE: &str = "Examples:
  blastradius store compact --store ./crash-store
  blastradius store merge ./shard0 ./shard1 --into ./crash-store";

pub const CLUSTERS: &str = concat!(
    "Examples:
  blastradius clusters --store ./crash-store --limit 10
  blastradius clusters --cluster csagent.sys                 (one cluster in detail)
  blastradius clusters --since '2024-07-19' --fail-if 'boot_loop_hosts>=10'

Columns: CAUSE = blamed driver or non-driver cause; BUCKET/SIGNATURE = the grouping key;
HOSTS = distinct hosts (share of the inventory's hosts); BOOT-LOOP = hosts in state boot-loop;
FIRST–LAST = first and last crash (UTC; the date shown when it differs from the row above or today);
ID = the cluster id that --cluster, hosts --cluster and report accept.
Width: the table fits --width N, else $COLUMNS, else the terminal, else 80 columns; narrower,
BUCKET is cut, then NOTES, BUGCHECK, ID, BUCKET and CRASHES are left out (--width 0: all).

--fail-if FILTER: exit 1 when any driver-level cluster matches. FILTER is one or more
conditions joined by ',' (all must hold): FIELD OP VALUE with OP one of = != >= <= > <.
Fields: cause, driver, id, hosts, crashes, boot_loop_hosts, recovered_hosts,
still_failing_hosts, down_hosts, critical_hosts (who is critical: --critical
COLUMN=VALUE[,VALUE], default criticality=critical), fleet_share (0..1), new (a cluster
whose first crash is inside --since/--until: new=true).

",
    host_states!()
);

pub const HOSTS: &str = concat!(
    "Examples:
  blastradius hosts --store ./crash-store --state boot-loop
  blastradius hosts --cluster csagent.sys --columns host,state,site,os_build
  blastradius hosts --fail-if state=boot-loop        (cron: exit 1 while any host loops)

Columns (text): host, state, crashes, clusters, first, last and the inventory's site, role,
criticality; --columns a,b,c picks others (also min_uptime and any inventory column),
--columns all shows every one. JSON and CSV always carry every column.
Width: the table fits --width N, else $COLUMNS, else the terminal, else 80 columns; narrower,
CLUSTERS is cut, then ROLE, FIRST, LAST are left out (--width 0: all; --columns: cut only).

--fail-if FILTER: exit 1 when any listed host matches. FILTER is one or more conditions
joined by ',' (all must hold): FIELD OP VALUE with OP one of = != >= <= > <. Fields: host,
state, crashes, clusters (matches when any cluster equals VALUE), any inventory column.

",
    host_states!()
);

pub const DRIVERS: &str = "Examples:
  blastradius drivers --store ./crash-store --limit 20
  blastradius drivers --include-microsoft --format csv > drivers.csv

Columns: HOSTS = hosts whose dumps list the driver loaded; LOADED = their share of the hosts
with a known driver list; CRASH SHARE = share of crashes in scope blamed on the driver;
VERSIONS = image timestamps, newest first.

With a driver inventory (scan --driver-inventory): INSTALLED = hosts it lists the driver
on; FLEET = their share of the inventory (of the hosts --site/--where select); PER HOST =
crashes per installed host; installed drivers no dump has shown get a row with 0 crashes.
JSON and CSV always carry every field.

Width: the table fits --width N, else $COLUMNS, else the terminal, else 80 columns; narrower,
long columns are cut, then the least important ones are left out (--width 0: all).";

pub const REPROCESS: &str = "Examples:
  blastradius reprocess --store ./crash-store --rules my-rules.toml
  blastradius reprocess --store ./crash-store --symbols ./symbols";

pub const REPORT: &str = "Examples:
  blastradius report --store ./crash-store --out report.html
  blastradius report --store ./crash-store --format markdown --out report.md";

pub const COMPLETIONS: &str = "Examples:
  blastradius completions bash > ~/.local/share/bash-completion/completions/blastradius
  blastradius completions zsh > ~/.zfunc/_blastradius
  blastradius completions fish > ~/.config/fish/completions/blastradius.fish";

pub const MAN: &str = "Examples:
  blastradius man --dir ~/.local/share/man/man1 && man blastradius-hosts
  blastradius man > ~/.local/share/man/man1/blastradius.1 && man blastradius
  blastradius man | man -l -";

pub const EXPOSURE: &str = "Examples:
  blastradius exposure csagent.sys --store ./crash-store
  blastradius exposure CSAgent --critical role=domain-controller,sql-server --format json

Terms: installed = hosts whose driver inventory (scan --driver-inventory) lists the driver,
else hosts whose dumps show it loaded (a lower bound, said so); boot start = Boot or System
start mode: those hosts would boot-loop; critical = inventory criticality=critical unless
--critical says otherwise.";

pub const TUI: &str = "Examples:
  blastradius tui --store ./crash-store
  blastradius tui --store ./crash-store --until '2024-07-19 05:00'    (as it looked at 05:00)
  blastradius tui --store ./crash-store --watch /mnt/crashdumps --inventory cmdb.csv   (live)";
