//! Issue 17 #1 in a real terminal (tmux, 80x24, the release binary): the
//! workspace file edited by hand while the TUI is open — a save from a form
//! keeps the hand edit byte-for-byte, an open form says its entry changed on
//! disk and Ctrl-R loads it, and the lists reload with a word in the status line.

use crate::support;
use crate::tui_e2e::{Tmux, start, ws_args};
use crate::tui_file::{FILE, hand_edit};

/// `dsp` on `FILE` at 80x24; `None` (skipped) without tmux or the release binary.
fn open(test: &str) -> Option<(Tmux, tempfile::TempDir)> {
    let dir = support::temp_dir();
    std::fs::write(dir.path().join("workspace.toml"), FILE).unwrap();
    let args = ws_args(&dir.path().join("workspace.toml"), &dir.path().join("data"));
    let tmux = start(test, 80, 24, "", &args)?;
    tmux.wait_for("the TUI", |s| s.contains("3 Jobs") && s.contains("src"), 60);
    Some((tmux, dir))
}

#[test]
fn a_hand_edit_made_while_the_tui_is_open_survives_its_save() {
    let test = "a_hand_edit_made_while_the_tui_is_open_survives_its_save";
    let Some((tmux, dir)) = open(test) else {
        return;
    };
    let file = dir.path().join("workspace.toml");
    tmux.keys("3");
    tmux.keys("j");
    tmux.keys("e");
    tmux.wait_for(
        "the Hourly form",
        |s| s.contains("Hourly") && s.contains("Ctrl-S"),
        10,
    );
    // The operator edits the file by hand while the form is open ...
    let by_hand = hand_edit(FILE);
    std::fs::write(&file, &by_hand).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // ... and renames the other job in the TUI.
    tmux.keys(" 2");
    tmux.keys("C-s");
    let saved = tmux.wait_for("the save", |s| s.contains("Saved to"), 10);
    assert!(saved.contains("Hourly 2"), "{saved}");
    let now = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        now,
        by_hand.replace("name = \"Hourly\"", "name = \"Hourly 2\""),
        "only the renamed job changed"
    );

    // The form's own entry changed on disk: the form says so; Ctrl-R loads it.
    tmux.keys("k");
    tmux.keys("e");
    tmux.wait_for(
        "the Nightly form",
        |s| s.contains("Nightly") && s.contains("Ctrl-S"),
        10,
    );
    std::fs::write(&file, now.replace("batch_size = 750", "batch_size = 800")).unwrap();
    let noticed = tmux.wait_for(
        "the notice in the form",
        |s| s.contains("changed on disk"),
        10,
    );
    assert!(noticed.contains("Ctrl-R"), "{noticed}");
    tmux.keys("C-r");
    tmux.wait_for("the entry from disk", |s| s.contains("800"), 10);
    tmux.keys("Escape");

    // Nothing open: a change on disk is reloaded and said so.
    let later = std::fs::read_to_string(&file)
        .unwrap()
        .replace("name = \"spare\"", "name = \"reserve\"");
    std::fs::write(&file, later).unwrap();
    tmux.keys("1");
    let reloaded = tmux.wait_for(
        "the reload",
        |s| s.contains("reserve") && s.contains("changed on disk; reloaded"),
        10,
    );
    assert!(!reloaded.contains("spare"), "{reloaded}");

    tmux.keys("q");
    let after = tmux.wait_for("the shell", |s| s.contains("DSP-EXITED-"), 20);
    assert!(after.contains("DSP-EXITED-0"), "{after}");
}

/// Issue 17 #2: the form shows the loader's own reason as the value is typed
/// and Ctrl-S saves nothing while it stands.
#[test]
fn a_form_shows_the_loaders_reason_and_saves_nothing_it_refuses() {
    let test = "a_form_shows_the_loaders_reason_and_saves_nothing_it_refuses";
    let Some((tmux, dir)) = open(test) else {
        return;
    };
    let file = dir.path().join("workspace.toml");
    tmux.keys("3");
    tmux.keys("e");
    tmux.wait_for(
        "the Nightly form",
        |s| s.contains("Nightly") && s.contains("Ctrl-S"),
        10,
    );
    // name, source, target, schema, mode, schedule, then the batch size.
    for _ in 0..6 {
        tmux.keys("Tab");
    }
    tmux.keys("BSpace");
    tmux.keys("BSpace");
    tmux.keys("BSpace");
    tmux.keys("2000000");
    let s = tmux.wait_for("the reason", |s| s.contains("out of range"), 10);
    assert!(s.contains("use 1 to 1000000"), "{s}");
    tmux.keys("C-s");
    let s = tmux.screen();
    assert!(
        s.contains("2000000") && s.contains("out of range"),
        "the form stays:\n{s}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), FILE);
}

/// Issue 17 #11: the network form takes one of a password variable or a clear
/// password, says which, and asks before saving a clear one (Enter is No).
#[test]
fn the_network_form_asks_before_saving_a_clear_password() {
    let test = "the_network_form_asks_before_saving_a_clear_password";
    let Some((tmux, dir)) = open(test) else {
        return;
    };
    let file = dir.path().join("workspace.toml");
    tmux.keys("a");
    tmux.wait_for("the network form", |s| s.contains("Ctrl-S"), 10);
    tmux.keys("replica");
    tmux.keys("Tab");
    tmux.keys("Tab");
    tmux.keys("db.internal");
    tmux.keys("Tab");
    tmux.keys("Tab");
    tmux.keys("reports");
    tmux.keys("Tab");
    tmux.keys("Tab");
    let s = tmux.wait_for("the choice", |s| s.contains("environment variable"), 10);
    assert!(s.contains("Password env var"), "{s}");
    tmux.keys("Right");
    tmux.keys("Tab");
    tmux.keys("hunter22");
    let s = tmux.wait_for(
        "the clear choice",
        |s| s.contains("clear text in the file"),
        10,
    );
    assert!(
        !s.contains("Password env var") && !s.contains("hunter22"),
        "{s}"
    );
    tmux.keys("C-s");
    tmux.wait_for("the question", |s| s.contains("in clear text"), 10);
    tmux.keys("Enter");
    tmux.wait_for(
        "the form again",
        |s| s.contains("clear text in the file"),
        10,
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        FILE,
        "No saves nothing"
    );
    tmux.keys("C-s");
    tmux.wait_for("the question", |s| s.contains("in clear text"), 10);
    tmux.keys("y");
    tmux.wait_for("the save", |s| s.contains("Saved to"), 10);
    let ws = dsp::workspace::load(&file).unwrap();
    let n = ws.network("replica").expect("saved");
    assert_eq!(n.password.as_ref().map(|p| p.expose()), Some("hunter22"));
    assert_eq!(n.password_env, None);
}
