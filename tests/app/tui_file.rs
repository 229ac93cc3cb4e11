//! The file is the truth (issue 17 #1): a TUI save writes only the entry
//! edited into the file as it is now, a hand edit made meanwhile survives
//! byte-for-byte, an entry changed on disk is not written over blindly, and
//! the TUI reloads the file when it changes.

use std::path::{Path, PathBuf};

use crossterm::event::KeyCode;
use dsp::engine::progress::Level;
use dsp::engine::schedule::Zone;
use dsp::paths::DataDir;
use dsp::tui::app::{App, Popup, Tab};
use dsp::workspace::merge::{SaveError, save_edit};
use dsp::workspace::{self, Workspace};

use crate::support;
use crate::tui::{ctrl, key, type_text};

pub(crate) const FILE: &str = r#"# Hand-kept workspace: keep this comment.
[[network]]
name = "src"
type = "sqlite"
database = "src.db"

[[network]]
name = "dst"
type = "sqlite"
database = "dst.db"

[[schema]]
name = "users"
source_table = "users"
target_table = "users"
primary_key = "id"
columns = [
  { source = "id", target = "id", type = "integer" },
]

[[job]]
name = "Nightly"
source = "src"
target = "dst"
schema = "users"
mode = "full"
batch_size = 500

[[job]]
name = "Hourly"
source = "src"
target = "dst"
schema = "users"
mode = "full"
"#;

/// What an operator types into the file while the TUI is open: a network
/// added and a batch size changed, each with a comment.
pub(crate) fn hand_edit(text: &str) -> String {
    text.replace(
        "batch_size = 500\n",
        "batch_size = 750  # raised by hand\n",
    )
    .replace(
        "[[schema]]",
        "# added by hand\n[[network]]\nname = \"spare\"\ntype = \"sqlite\"\ndatabase = \"spare.db\"\n\n[[schema]]",
    )
}

fn setup() -> (tempfile::TempDir, PathBuf, Workspace) {
    let dir = support::temp_dir();
    let path = dir.path().join("workspace.toml");
    std::fs::write(&path, FILE).unwrap();
    let ws = workspace::load(&path).unwrap();
    (dir, path, ws)
}

fn app(dir: &Path, path: &Path, ws: Workspace) -> App {
    App::new(
        ws,
        path.to_path_buf(),
        DataDir::new(dir.join("data")),
        Zone::Local,
    )
}

#[test]
fn a_save_keeps_a_hand_edit_made_meanwhile_byte_for_byte() {
    let (_dir, path, base) = setup();
    let edited_by_hand = hand_edit(FILE);
    std::fs::write(&path, &edited_by_hand).unwrap();

    let mut edited = base.clone();
    edited.jobs[1].batch_size = Some(42);
    let saved = save_edit(&base, &edited, &path, false).unwrap();
    assert!(saved.merged, "the file had changed on disk");
    let now = std::fs::read_to_string(&path).unwrap();
    let expected = edited_by_hand.replace("mode = \"full\"\n\"#", "");
    // Only the Hourly job's table changed: one line added at its end.
    assert_eq!(now, format!("{expected}batch_size = 42\n"));
    assert_eq!(saved.workspace.networks.len(), 3);
    assert_eq!(
        saved.workspace.job("Nightly").unwrap().batch_size,
        Some(750)
    );
}

#[test]
fn a_save_refuses_an_entry_changed_on_disk_unless_told_to() {
    let (_dir, path, base) = setup();
    let edited_by_hand = hand_edit(FILE);
    std::fs::write(&path, &edited_by_hand).unwrap();

    let mut edited = base.clone();
    edited.jobs[0].batch_size = Some(9);
    let err = save_edit(&base, &edited, &path, false).unwrap_err();
    assert_eq!(
        err,
        SaveError::Conflict("job \"Nightly\" changed on disk since it was loaded".into())
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited_by_hand);

    let saved = save_edit(&base, &edited, &path, true).unwrap();
    assert_eq!(saved.workspace.job("Nightly").unwrap().batch_size, Some(9));
    let now = std::fs::read_to_string(&path).unwrap();
    assert!(
        now.contains("batch_size = 9  # raised by hand\n"),
        "the value is replaced, its comment kept:\n{now}"
    );
    assert!(now.contains("name = \"spare\""), "{now}");
}

#[test]
fn a_save_never_writes_what_the_loader_refuses() {
    let (_dir, path, base) = setup();
    let mut edited = base.clone();
    // Nothing but the loader's range knows this is wrong.
    edited.jobs[0].batch_size = Some(2_000_000);
    let Err(SaveError::Failed(why)) = save_edit(&base, &edited, &path, false) else {
        panic!("saved what nothing can load");
    };
    assert!(why.contains("batch_size"), "{why}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), FILE);
}

/// Issue 17 #1 through the app: the job form's Ctrl-S after a hand edit.
#[test]
fn the_job_form_saves_into_the_file_as_it_is_now() {
    let (dir, path, ws) = setup();
    let mut app = app(dir.path(), &path, ws);
    app.tab = Tab::Jobs;
    app.selected[2] = 1;
    app.on_key(key(KeyCode::Char('e')));
    assert!(matches!(app.popup, Some(Popup::Form(_))));
    let edited_by_hand = hand_edit(FILE);
    std::fs::write(&path, &edited_by_hand).unwrap();
    // The watcher sees the file changed; the form's entry did not.
    assert!(app.check_file().is_some());
    let Some(Popup::Form(form)) = &app.popup else {
        panic!("the form stays open");
    };
    assert_eq!(form.note, None, "Hourly did not change on disk");

    app.on_key(ctrl('s'));
    assert!(app.popup.is_none(), "saved: {:?}", app.message);
    let now = std::fs::read_to_string(&path).unwrap();
    assert_eq!(now, edited_by_hand, "an unchanged save changes nothing");
    assert_eq!(app.ws.networks.len(), 3, "the app took the file as written");
}

#[test]
fn an_open_form_says_its_entry_changed_on_disk_and_can_load_it() {
    let (dir, path, ws) = setup();
    let mut app = app(dir.path(), &path, ws);
    app.tab = Tab::Jobs;
    app.on_key(key(KeyCode::Char('e')));
    type_text(&mut app, "x");
    std::fs::write(&path, hand_edit(FILE)).unwrap();
    app.check_file();
    let Some(Popup::Form(form)) = &app.popup else {
        panic!("the form stays open");
    };
    let note = form.note.clone().unwrap_or_default();
    assert!(
        note.contains("job \"Nightly\" changed on disk") && note.contains("Ctrl-R"),
        "{note}"
    );
    app.on_key(ctrl('r'));
    let Some(Popup::Form(form)) = &app.popup else {
        panic!("the form shows the entry from disk");
    };
    let batch = form.fields.iter().find(|f| f.key == "batch_size").unwrap();
    assert_eq!(batch.value, "750");
    assert!(!form.is_edited());
    assert_eq!(app.ws.networks.len(), 3);
}

#[test]
fn a_conflicting_save_is_refused_then_overwrites_on_the_second_ctrl_s() {
    let (dir, path, ws) = setup();
    let mut app = app(dir.path(), &path, ws);
    app.tab = Tab::Jobs;
    app.on_key(key(KeyCode::Char('e')));
    // Name is the first field: rename the job in the form.
    type_text(&mut app, " 2");
    std::fs::write(&path, hand_edit(FILE)).unwrap();
    // Saved before the watcher looked: the save itself finds the change.
    app.on_key(ctrl('s'));
    let Some(Popup::Form(form)) = &app.popup else {
        panic!("the form stays open: {:?}", app.message);
    };
    let note = form.note.clone().unwrap_or_default();
    assert!(note.contains("job \"Nightly\" changed on disk"), "{note}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), hand_edit(FILE));

    app.on_key(ctrl('s'));
    assert!(app.popup.is_none(), "{:?}", app.message);
    let now = std::fs::read_to_string(&path).unwrap();
    assert!(now.contains("name = \"Nightly 2\""), "{now}");
    assert!(now.contains("name = \"spare\""), "{now}");
}

#[test]
fn the_app_reloads_a_changed_file_and_keeps_the_last_good_one() {
    let (dir, path, ws) = setup();
    let mut app = app(dir.path(), &path, ws);
    assert!(app.check_file().is_none(), "nothing changed");
    std::fs::write(&path, hand_edit(FILE)).unwrap();
    assert!(app.check_file().is_some());
    assert_eq!(app.ws.networks.len(), 3);
    let (level, msg) = app.message.clone().unwrap();
    assert_eq!(level, Level::Info);
    assert!(
        msg.ends_with("workspace.toml changed on disk; reloaded"),
        "{msg}"
    );

    std::fs::write(&path, FILE.replace("batch_size = 500", "batch_size = 0")).unwrap();
    app.check_file();
    assert_eq!(app.ws.networks.len(), 3, "the last good workspace stays");
    let (level, msg) = app.message.clone().unwrap();
    assert_eq!(level, Level::Error);
    assert!(
        msg.contains("does not load") && msg.contains(":27:") && msg.contains("job \"Nightly\""),
        "{msg}"
    );
}
