//! The identity's keyring backend against a real Secret Service, and `Auto`'s fallback
//! to the encrypted file when no keyring is reachable (SPEC N2).
//!
//! Both tests re-run this test binary as a child process (`--exact <test name>`), with
//! an environment variable telling the child which side to play:
//! - the keyring test starts the child inside `dbus-run-session` with `gnome-keyring`
//!   unlocked, and a private HOME/XDG directories so nothing touches the real keyring of
//!   whoever runs the tests;
//! - the fallback test starts the child with `DBUS_SESSION_BUS_ADDRESS` pointing nowhere.
//!
//! The children print a marker the parent requires, so a child that ran no test (a
//! filter that matched nothing exits 0) cannot pass for one that worked.
//!
//! Needs the Debian packages `dbus-user-session` (brings `dbus-daemon`, which has
//! dbus-run-session), `gnome-keyring` and `libsecret-tools` (secret-tool, to look at the
//! keyring from outside). If one is missing the test fails and names the package.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use leither_core::identity::{
    BackendKind, Identity, IdentityError, IdentityOptions, KEY_FILE_NAME, KdfParams, KeyBackend,
    Passphrase, PassphrasePurpose, USER_KEY_CONTEXT,
};

const ROLE: &str = "LEITHER_IDENTITY_TEST_ROLE";
const DATA: &str = "LEITHER_IDENTITY_TEST_DATA";
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);
const PACKAGES: &str = "apt-get install -y gnome-keyring dbus-user-session libsecret-tools";

fn options(backend: KeyBackend) -> IdentityOptions {
    IdentityOptions {
        backend,
        device_name: "keyring test".into(),
        kdf: KdfParams::INSECURE_FAST_FOR_TESTS,
    }
}

fn never(_: PassphrasePurpose) -> Result<Passphrase, IdentityError> {
    panic!("the keyring backend must not ask for a passphrase")
}

fn require(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed: this test needs the Debian package `{package}` ({PACKAGES})"
    );
}

/// Run this test binary again as `role`, wait (bounded), and return its output.
fn run_child(test_name: &str, role: &str, mut cmd: Command, work: &Path) {
    let exe = std::env::current_exe().expect("test binary path");
    cmd.arg(exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(ROLE, role);
    let out_path = work.join(format!("{role}.out"));
    let out = std::fs::File::create(&out_path).unwrap();
    let err = out.try_clone().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start the child test process");
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "child {role} did not finish in {CHILD_TIMEOUT:?}:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    assert!(
        status.success(),
        "child {role} failed ({status}):\n{output}"
    );
    assert!(
        output.contains(&format!("CHILD {role} OK")),
        "child {role} did not run its checks:\n{output}"
    );
    println!("--- child {role} ---\n{output}");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// No file under `dir` holds any of `secrets`, raw or as text.
fn assert_not_on_disk(dir: &Path, secrets: &[[u8; 32]]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for s in secrets {
            let hex: String = s.iter().map(|b| format!("{b:02x}")).collect();
            assert!(!contains(&bytes, s), "raw secret in {}", path.display());
            assert!(
                !contains(&bytes, hex.as_bytes()),
                "hex secret in {}",
                path.display()
            );
            let b32 = leither_core::encoding::encode(s);
            assert!(
                !contains(&bytes, b32.as_bytes()),
                "secret in {}",
                path.display()
            );
        }
    }
}

fn keyring_scope(data_dir: &Path) -> String {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("identity.json")).unwrap()).unwrap();
    assert_eq!(json["secrets"]["backend"], "keyring", "{json}");
    json["secrets"]["scope"].as_str().unwrap().to_owned()
}

/// `secret-tool lookup` of one of our entries, from outside the node.
fn secret_tool_lookup(account: &str) -> Vec<u8> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", "leither", "username", account])
        .output()
        .expect("run secret-tool");
    assert!(out.status.success(), "secret-tool found no entry {account}");
    out.stdout
}

#[test]
fn keyring_backend_with_a_real_secret_service() {
    if std::env::var(ROLE).as_deref() == Ok("keyring") {
        return keyring_child();
    }
    require("dbus-run-session", "dbus-daemon");
    require("gnome-keyring-daemon", "gnome-keyring");
    require("secret-tool", "libsecret-tools");

    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let runtime = work.path().join("run");
    for d in [&home, &runtime] {
        std::fs::create_dir_all(d).unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let mut cmd = Command::new("dbus-run-session");
    cmd.args([
        "--",
        "sh",
        "-c",
        // Start an unlocked Secret Service on this private bus, then become the test.
        "echo -n test-keyring-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null \
         || { echo 'gnome-keyring-daemon failed to start' >&2; exit 97; }; exec \"$@\"",
        "sh",
    ])
    .env("HOME", &home)
    .env("XDG_DATA_HOME", home.join(".local/share"))
    .env("XDG_CONFIG_HOME", home.join(".config"))
    .env("XDG_CACHE_HOME", home.join(".cache"))
    .env("XDG_RUNTIME_DIR", &runtime)
    .env(DATA, work.path().join("data"))
    .env_remove("DBUS_SESSION_BUS_ADDRESS");
    run_child(
        "keyring_backend_with_a_real_secret_service",
        "keyring",
        cmd,
        work.path(),
    );
}

fn keyring_child() {
    let root = PathBuf::from(std::env::var(DATA).unwrap());
    let first_dir = root.join("first");

    // Create with the keyring: no passphrase is asked, no key file is written.
    let (first, phrase) =
        Identity::create(&first_dir, &options(KeyBackend::Keyring), never).unwrap();
    assert_eq!(first.backend(), BackendKind::Keyring);
    assert!(!first_dir.join(KEY_FILE_NAME).exists());
    assert_eq!(
        Identity::read_public(&first_dir).unwrap().backend,
        BackendKind::Keyring
    );

    // The secrets are in the Secret Service, and only there.
    let entropy: [u8; 32] = bip39::Mnemonic::parse(phrase.show().as_str())
        .unwrap()
        .to_entropy()
        .try_into()
        .unwrap();
    let user_secret = blake3::derive_key(USER_KEY_CONTEXT, &entropy);
    let node_secret = *first.node_secret_key_bytes();
    assert_not_on_disk(&first_dir, &[entropy, user_secret, node_secret]);
    let scope = keyring_scope(&first_dir);
    assert_eq!(secret_tool_lookup(&format!("{scope}/user")), entropy);
    assert_eq!(secret_tool_lookup(&format!("{scope}/node")), node_secret);

    // Load needs no passphrase and gives back the same identity.
    let loaded = Identity::load(&first_dir, never).unwrap();
    assert_eq!(loaded.public(), first.public());
    assert_eq!(*loaded.node_secret_key_bytes(), node_secret);
    assert_eq!(loaded.recovery_phrase().show(), phrase.show());

    // Auto finds the working keyring; a second node on this machine gets its own
    // entries and does not disturb the first.
    let second_dir = root.join("second");
    let (second, _) = Identity::create(&second_dir, &options(KeyBackend::Auto), never).unwrap();
    assert_eq!(second.backend(), BackendKind::Keyring);
    assert_ne!(keyring_scope(&second_dir), scope);
    assert_eq!(
        Identity::load(&first_dir, never).unwrap().public(),
        first.public()
    );
    assert_eq!(
        Identity::load(&second_dir, never).unwrap().public(),
        second.public()
    );

    // The same user recovered as a third node, also in the keyring.
    let third_dir = root.join("third");
    let third =
        Identity::recover(&third_dir, &phrase, &options(KeyBackend::Keyring), never).unwrap();
    assert_eq!(third.user_id(), first.user_id());
    assert_ne!(third.node_id(), first.node_id());

    // An entry removed behind the node's back is reported as missing, by name.
    let status = Command::new("secret-tool")
        .args([
            "clear",
            "service",
            "leither",
            "username",
            &format!("{scope}/user"),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    match Identity::load(&first_dir, never) {
        Err(IdentityError::KeyringEntryMissing { account }) => {
            assert_eq!(account, format!("{scope}/user"))
        }
        other => panic!("expected a missing keyring entry, got {other:?}"),
    }
    println!("CHILD keyring OK");
}

#[test]
fn auto_falls_back_to_the_key_file_without_a_keyring() {
    const NAME: &str = "auto_falls_back_to_the_key_file_without_a_keyring";
    if std::env::var(ROLE).is_ok_and(|role| role.starts_with("nokeyring")) {
        return no_keyring_child();
    }
    let work = tempfile::tempdir().unwrap();
    let private_env = |cmd: &mut Command, name: &str| {
        let home = work.path().join(name);
        let runtime = home.join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        cmd.env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env(DATA, home.join("data"));
    };

    // 1. The session bus address points nowhere.
    let mut cmd = Command::new("env");
    private_env(&mut cmd, "bogus-bus");
    cmd.env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", work.path().join("no-bus-here").display()),
    );
    run_child(NAME, "nokeyring-bogus-bus", cmd, work.path());

    // 2. No session bus at all (a plain headless server or container).
    let mut cmd = Command::new("env");
    private_env(&mut cmd, "no-bus");
    cmd.env_remove("DBUS_SESSION_BUS_ADDRESS");
    run_child(NAME, "nokeyring-no-bus", cmd, work.path());

    // 3. A Secret Service that runs but is locked, with nobody to answer its unlock
    //    prompt (a desktop keyring reached over SSH).
    require("dbus-run-session", "dbus-daemon");
    require("gnome-keyring-daemon", "gnome-keyring");
    let mut cmd = Command::new("dbus-run-session");
    private_env(&mut cmd, "locked");
    cmd.args([
        "--",
        "sh",
        "-c",
        "gnome-keyring-daemon --start --components=secrets >/dev/null || exit 97; exec \"$@\"",
        "sh",
    ])
    .env_remove("DBUS_SESSION_BUS_ADDRESS");
    run_child(NAME, "nokeyring-locked", cmd, work.path());
}

fn no_keyring_child() {
    let root = PathBuf::from(std::env::var(DATA).unwrap());

    // Asking for the keyring explicitly fails clearly and leaves nothing behind.
    let strict = root.join("strict");
    match Identity::create(&strict, &options(KeyBackend::Keyring), never) {
        Err(IdentityError::KeyringUnavailable(reason)) => println!("keyring unavailable: {reason}"),
        other => panic!("expected KeyringUnavailable, got {other:?}"),
    }
    let role = std::env::var(ROLE).unwrap();
    assert!(!Identity::exists(&strict));

    // Auto falls back to the file, asking for a new passphrase.
    let dir = root.join("auto");
    let mut asked = None;
    let (id, _) = Identity::create(&dir, &options(KeyBackend::Auto), |purpose| {
        asked = Some(purpose);
        Ok(Passphrase::from("fallback pw"))
    })
    .unwrap();
    assert_eq!(asked, Some(PassphrasePurpose::New));
    assert_eq!(id.backend(), BackendKind::File);
    assert!(dir.join(KEY_FILE_NAME).exists());
    assert_not_on_disk(&dir, &[*id.node_secret_key_bytes()]);

    let loaded = Identity::load(&dir, |purpose| {
        assert_eq!(purpose, PassphrasePurpose::Unlock);
        Ok(Passphrase::from("fallback pw"))
    })
    .unwrap();
    assert_eq!(loaded.public(), id.public());
    println!("CHILD {role} OK");
}
