//! Import benchmark (issue 2, "Measured"): Leither import + backup of a generated tree vs
//! `git add -A && git commit` of the same tree, in the same run, plus raw blake3 speed.
//!
//! ```text
//! cargo bench -p leither-core --bench import
//! LEITHER_BENCH_FILES=10000 LEITHER_BENCH_MB=200 LEITHER_BENCH_ROUNDS=3 cargo bench -p leither-core --bench import
//! ```
//!
//! The tree is deterministic: `FILES` files in nested directories, sizes from empty to a
//! few MiB (most small, a few large), ~5% duplicates of earlier files, scaled so the
//! total is ~`MB` MiB. Leither runs the library code the CLI runs (`Mimeis::import_dir`,
//! then `Mimeis::backup`) on a fresh data directory with the node's default store
//! settings; every commit is durable (fsync) as in the node. Both tools run on a warm page
//! cache. "stored" = growth of the data directory (Leither) / `.git` (git) on disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use leither_core::identity::UserId;
use leither_core::mimei::{MimeiId, MimeiPath, Mimeis, NewMimei};
use leither_core::store::{Store, StoreConfig};

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// splitmix64: tiny, deterministic, good enough for test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

struct Spec {
    rel: PathBuf,
    size: u64,
    seed: u64,
}

fn plan(files: u64, total_bytes: u64) -> Vec<Spec> {
    let mut rng = Rng(42);
    let mut out: Vec<Spec> = Vec::with_capacity(files as usize);
    for i in 0..files {
        let bucket = rng.below(1000);
        let size = match bucket {
            0..=699 => rng.below(8 * 1024),                 // 70%: < 8 KiB
            700..=949 => 8 * 1024 + rng.below(56 * 1024),   // 25%: 8–64 KiB
            950..=994 => 64 * 1024 + rng.below(448 * 1024), // 4.5%: 64–512 KiB
            _ => 1024 * 1024 + rng.below(3 * 1024 * 1024),  // 0.5%: 1–4 MiB
        };
        let rel = PathBuf::from(format!(
            "d{:02}/s{}/f{i:05}.{}",
            i % 40,
            (i / 40) % 8,
            ["txt", "bin", "jpg", "json"][(i % 4) as usize]
        ));
        // ~5% duplicates of an earlier file.
        if i > 10 && rng.below(20) == 0 {
            let j = rng.below(i) as usize;
            out.push(Spec {
                rel,
                size: out[j].size,
                seed: out[j].seed,
            });
        } else {
            out.push(Spec {
                rel,
                size,
                seed: rng.next(),
            });
        }
    }
    // Scale to the requested total.
    let sum: u64 = out.iter().map(|s| s.size).sum::<u64>().max(1);
    let f = total_bytes as f64 / sum as f64;
    for s in &mut out {
        s.size = (s.size as f64 * f) as u64;
    }
    out
}

fn content(size: u64, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut v = Vec::with_capacity(size as usize + 8);
    // Half the files are text-like (compressible), half random (media-like).
    if seed.is_multiple_of(2) {
        let words: [&[u8]; 8] = [
            b"leither ",
            b"mimei ",
            b"block ",
            b"digest ",
            b"version ",
            b"peer ",
            b"store ",
            b"\n",
        ];
        while (v.len() as u64) < size {
            v.extend_from_slice(words[rng.below(8) as usize]);
        }
    } else {
        while (v.len() as u64) < size {
            v.extend_from_slice(&rng.next().to_le_bytes());
        }
    }
    v.truncate(size as usize);
    v
}

fn write_tree(root: &Path, specs: &[Spec]) {
    for s in specs {
        let p = root.join(&s.rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content(s.size, s.seed)).unwrap();
    }
}

/// Change `1%` of the files (every 100th): new content of the same size.
fn change_one_percent(root: &Path, specs: &[Spec]) -> u64 {
    let mut n = 0;
    for s in specs.iter().step_by(100) {
        let mut c = content(s.size.max(1), s.seed ^ 0xDEAD_BEEF);
        c[0] ^= 1;
        std::fs::write(root.join(&s.rel), c).unwrap();
        n += 1;
    }
    n
}

fn du(p: &Path) -> u64 {
    let mut total = 0;
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    for e in rd.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            total += du(&e.path());
        } else {
            total += m.len();
        }
    }
    total
}

struct Leither {
    _dir: tempfile::TempDir,
    store_dir: PathBuf,
    m: Mimeis,
    me: UserId,
    id: MimeiId,
}

impl Leither {
    fn fresh() -> Leither {
        let dir = tempfile::tempdir().unwrap();
        let store_dir = dir.path().join("store");
        let store = Store::open(&store_dir, &StoreConfig::default()).unwrap();
        let m = Mimeis::new(store);
        let me = UserId::from_bytes([7; 32]);
        let id = m
            .create(
                &me,
                &NewMimei {
                    mark: "bench".into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .id;
        Leither {
            _dir: dir,
            store_dir,
            m,
            me,
            id,
        }
    }

    /// Import + backup; returns (time, bytes of new content, disk growth).
    fn import_backup(&self, tree: &Path) -> (Duration, u64, u64) {
        let before = du(&self.store_dir);
        let t = Instant::now();
        let stats = self
            .m
            .import_dir(&self.me, &self.id, tree, &MimeiPath::root(), &|_| {})
            .unwrap();
        self.m.backup(&self.me, &self.id, "bench").unwrap();
        let el = t.elapsed();
        (
            el,
            stats.new_bytes,
            du(&self.store_dir).saturating_sub(before),
        )
    }
}

/// Runs git on work tree `tree` with its repository in `git_dir` (kept outside the tree,
/// so Leither's import never sees it).
fn git(tree: &Path, git_dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(tree)
        .arg(format!("--git-dir={}", git_dir.display()))
        .arg(format!("--work-tree={}", tree.display()))
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.org",
        ])
        .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
        .args(["-c", "gc.auto=0"])
        .args(args)
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Time of `git add -A && git commit`; returns (time, repository growth).
fn git_commit(tree: &Path, git_dir: &Path, msg: &str) -> (Duration, u64) {
    let before = du(git_dir);
    let t = Instant::now();
    git(tree, git_dir, &["add", "-A"]);
    git(tree, git_dir, &["commit", "-q", "--allow-empty", "-m", msg]);
    let el = t.elapsed();
    (el, du(git_dir).saturating_sub(before))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn mib(b: u64) -> String {
    if b < 1024 * 1024 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`) does not.
    if !std::env::args().any(|a| a == "--bench") {
        println!("import bench: run with `cargo bench -p leither-core --bench import`");
        return;
    }
    let files = knob("LEITHER_BENCH_FILES", 10_000);
    let mb = knob("LEITHER_BENCH_MB", 200);
    let rounds = knob("LEITHER_BENCH_ROUNDS", 3).max(1);
    let specs = plan(files, mb * 1024 * 1024);
    let total: u64 = specs.iter().map(|s| s.size).sum();
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    let t = Instant::now();
    write_tree(&tree, &specs);
    println!(
        "tree: {} files, {} ({} largest), generated in {}",
        specs.len(),
        mib(total),
        mib(specs.iter().map(|s| s.size).max().unwrap_or(0)),
        secs(t.elapsed())
    );
    let has_git = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_git {
        println!("git: not found on PATH, git columns skipped");
    }

    // (c) raw blake3, one core, over the same bytes (read into memory first).
    let bytes: Vec<Vec<u8>> = specs
        .iter()
        .map(|s| std::fs::read(tree.join(&s.rel)).unwrap())
        .collect();
    let mut b3 = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for b in &bytes {
            std::hint::black_box(blake3::hash(b));
        }
        b3.push(t.elapsed());
    }
    drop(bytes);
    let b3 = median(b3);

    // (a)/(b) fresh import + backup vs git init/add/commit, `rounds` times each.
    let git_dir = work.path().join("git");
    let mut lt = Vec::new();
    let mut gt = Vec::new();
    let mut l_store = 0;
    let mut g_store = 0;
    let mut last: Option<Leither> = None;
    for r in 0..rounds {
        let l = Leither::fresh();
        let (d, _, disk) = l.import_backup(&tree);
        lt.push(d);
        l_store = disk;
        last = Some(l);
        if has_git {
            let _ = std::fs::remove_dir_all(&git_dir);
            let t = Instant::now();
            git(&tree, &git_dir, &["init", "-q"]);
            git(&tree, &git_dir, &["add", "-A"]);
            git(
                &tree,
                &git_dir,
                &["commit", "-q", "-m", &format!("round {r}")],
            );
            gt.push(t.elapsed());
            g_store = du(&git_dir);
        }
    }
    let l = last.expect("at least one round");
    let lt = median(lt);

    // (d) re-import of the unchanged tree.
    let (l_re, l_re_new, l_re_disk) = l.import_backup(&tree);
    let g_re = has_git.then(|| git_commit(&tree, &git_dir, "again"));

    // (e) 1% of the files changed.
    let changed = change_one_percent(&tree, &specs);
    let (l_ch, l_ch_new, l_ch_disk) = l.import_backup(&tree);
    let g_ch = has_git.then(|| git_commit(&tree, &git_dir, "changed"));

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "rounds: {rounds} (median shown), cores: {}, load: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    println!(
        "| {:<38} | {:>10} | {:>10} | {:>10} | {:>11} | {:>11} |",
        "step", "Leither", "git", "git/Leither", "Leither new", "git new"
    );
    println!(
        "|{:-<40}|{:->12}|{:->12}|{:->13}|{:->13}|{:->13}|",
        "", "", "", "", "", ""
    );
    let row = |name: &str, l: Duration, g: Option<Duration>, ln: String, gn: String| {
        let (gs, ratio) = match g {
            Some(g) => (
                secs(g),
                format!("{:.1}x", g.as_secs_f64() / l.as_secs_f64()),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {name:<38} | {:>10} | {gs:>10} | {ratio:>11} | {ln:>11} | {gn:>11} |",
            secs(l)
        );
    };
    row(
        "(a/b) fresh import + backup / commit",
        lt,
        has_git.then(|| median(gt.clone())),
        mib(l_store),
        if has_git { mib(g_store) } else { "-".into() },
    );
    row(
        "(d) re-import unchanged tree",
        l_re,
        g_re.map(|g| g.0),
        format!("{} ({} data)", mib(l_re_disk), mib(l_re_new)),
        g_re.map_or("-".into(), |g| mib(g.1)),
    );
    row(
        &format!("(e) {changed} files (1%) changed"),
        l_ch,
        g_ch.map(|g| g.0),
        format!("{} ({} data)", mib(l_ch_disk), mib(l_ch_new)),
        g_ch.map_or("-".into(), |g| mib(g.1)),
    );
    println!();
    let rate = |d: Duration| total as f64 / d.as_secs_f64() / (1024.0 * 1024.0);
    println!(
        "(c) blake3, one core: {:.0} MiB/s ({}); Leither import + backup: {:.0} MiB/s = {:.0}% of it",
        rate(b3),
        secs(b3),
        rate(lt),
        100.0 * rate(lt) / rate(b3)
    );
    println!(
        "\"new\" = growth on disk (Leither data dir incl. sled log / .git); \"data\" = new block bytes."
    );
}
