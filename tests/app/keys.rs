//! The keymap is the only source of key bindings: every key the TUI acts on is
//! one the keymap binds where the app is, and the `?` popup, rendered into a
//! TestBackend at 80x24, lists it. Checked two ways: each binding's own key
//! events, and a brute-force sweep of printable, Ctrl and special keys through
//! `App::on_key` in every screen the app has.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dsp::engine::progress::{Level, LogLine, ProgressEvent, RunStatus, RunSummary};
use dsp::engine::schedule::Zone;
use dsp::engine::state;
use dsp::paths::DataDir;
use dsp::tui::app::{App, Confirm, Effect, Popup};
use dsp::tui::keymap::{self, BINDINGS, Binding, Context, Key};
use dsp::tui::theme::Theme;
use dsp::tui::ui;
use dsp::workspace::{self, SyncMode, Workspace};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const JOB: &str = "Sync Users to Analytics";

/// The demo workspace with three recorded runs of its first job, so the past
/// runs popup has something to choose from.
struct Fixture {
    _dir: tempfile::TempDir,
    ws: Workspace,
    ws_path: PathBuf,
    data: DataDir,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        let ws_path = dsp::commands::demo::ensure_demo(&data).await.unwrap();
        let ws = workspace::load(&ws_path).unwrap();
        let log: Vec<LogLine> = (0..40)
            .map(|i| LogLine::new(Level::Info, format!("line {i}")))
            .collect();
        for minutes in [10, 20, 30] {
            let started = chrono::Utc::now() - chrono::Duration::minutes(minutes);
            let summary = RunSummary {
                job: JOB.into(),
                mode: SyncMode::Full,
                status: RunStatus::Succeeded,
                started,
                ended: started + chrono::Duration::seconds(3),
                total: 10,
                success: 10,
                failed: 0,
                error: None,
                changes: None,
            };
            state::record_run(&data, &summary, &log).unwrap();
        }
        Fixture {
            _dir: dir,
            ws,
            ws_path,
            data,
        }
    }

    fn app(&self) -> App {
        let zone = Zone::Named {
            tz: chrono_tz::UTC,
            from: "test",
        };
        App::new(
            self.ws.clone(),
            self.ws_path.clone(),
            self.data.clone(),
            zone,
        )
    }
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
}

fn focus(app: &mut App, pick: impl Fn(&dsp::tui::form::Field) -> bool) {
    let Some(Popup::Form(form)) = &mut app.popup else {
        panic!("no form open");
    };
    form.focus = form.fields.iter().position(pick).expect("no such field");
}

/// Puts a fresh app on one screen.
type Setup = fn(&mut App);

/// Every screen the keys behave differently in, each with something for
/// its keys to change (a message to clear, a scrolled log, a second run).
fn screens() -> Vec<(&'static str, Setup)> {
    fn lists(app: &mut App) {
        app.message = Some((Level::Info, "a message".into()));
    }
    vec![
        ("Network tab, second network chosen", |app| {
            app.selected[0] = 1;
            lists(app);
        }),
        ("Schema tab", |app| {
            press(app, "2");
            lists(app);
        }),
        ("Jobs tab, log scrolled", |app| {
            press(app, "3");
            for i in 0..40 {
                app.on_engine(ProgressEvent::Log {
                    job: JOB.into(),
                    line: LogLine::new(Level::Info, format!("line {i}")),
                });
            }
            app.jobs.get_mut(JOB).unwrap().scroll = Some(15);
            lists(app);
        }),
        ("Network form, text field", |app| press(app, "e")),
        ("Network form, choice field", |app| {
            press(app, "e");
            focus(app, |f| f.is_choice());
        }),
        ("Schema form, text field", |app| press(app, "2e")),
        ("Schema form, a column's choice field", |app| {
            press(app, "2e");
            focus(app, |f| f.is_choice() && f.key.starts_with("col_"));
        }),
        ("Confirm delete", |app| press(app, "3d")),
        ("Confirm quit", |app| {
            app.popup = Some(Popup::Confirm(Confirm::Quit { running: 1 }));
        }),
        ("Past runs, second chosen", |app| press(app, "3hj")),
        ("Past runs, a log scrolled", |app| {
            press(app, "3h");
            app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
            press(app, "jjjjj");
        }),
        ("Past runs, a line found in a log", |app| {
            press(app, "3h");
            app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
            press(app, "/line 1");
            app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        }),
        ("Past runs, the find prompt open", |app| {
            press(app, "3h");
            app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
            press(app, "/li");
        }),
        ("Jobs tab, filter prompt open", |app| press(app, "3/u")),
        ("Jobs tab, a line found in the log", |app| {
            press(app, "3");
            app.on_key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL));
            press(app, "line 1");
            app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
            lists(app);
        }),
        ("Help", |app| press(app, "?")),
    ]
}

/// What a key can change: everything the screen shows or the loop acts on.
fn fingerprint(app: &App) -> String {
    let mut jobs: Vec<_> = app
        .jobs
        .iter()
        .map(|(name, v)| (name.clone(), v.running, v.scroll, v.log.len()))
        .collect();
    jobs.sort();
    format!(
        "{:?}",
        (
            app.tab,
            app.selected,
            &app.popup,
            &app.message,
            app.quitting,
            &app.tested,
            &app.ws,
            &app.search,
            jobs
        )
    )
}

fn help_text(fixture: &Fixture) -> String {
    let mut app = fixture.app();
    press(&mut app, "?");
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| ui::draw(f, &app, &Theme::plain())).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..24 {
        for x in 0..80 {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// The line the help popup shows for a binding (its own one for `Help`).
fn help_line(b: &Binding) -> String {
    if b.context == Context::Help {
        format!("Keys ({} {})", b.keys, b.action)
    } else {
        format!("{:<10} {}", b.keys, b.action)
    }
}

/// How the key is written in a binding's label, where one name fits. A
/// binding to the bare key takes it with any modifier (Ctrl-A adds, as `a`
/// does), so only a Ctrl binding names the modifier.
fn name(b: &Binding, key: &KeyEvent) -> Option<String> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL)
        && !b.events.iter().any(|(k, _)| *k == Key::Is(key.code));
    Some(match key.code {
        KeyCode::Char(c) if ctrl => format!("Ctrl-{}", c.to_ascii_uppercase()),
        KeyCode::Char(' ') => "Space".into(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Esc => "Esc".into(),
        KeyCode::Tab => "Tab".into(),
        KeyCode::BackTab => "S-Tab".into(),
        KeyCode::Backspace => "Backspace".into(),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        KeyCode::Home => "Home".into(),
        KeyCode::End => "End".into(),
        _ => return None,
    })
}

/// The binding's label names this key: one of its `/`- or space-separated
/// parts (letters in either case, as `y/Enter` covers `Y`), or the binding
/// takes any typed character or any key at all.
fn label_names(b: &Binding, key: &KeyEvent) -> bool {
    if b.events
        .iter()
        .any(|(k, _)| matches!(k, Key::Typed | Key::Any))
    {
        return true;
    }
    let Some(name) = name(b, key) else {
        return false;
    };
    // `/` names itself only between spaces, as in `/ Esc`.
    b.keys.split(' ').any(|part| part == name)
        || b.keys
            .split(['/', ' '])
            .any(|part| part == name || part.eq_ignore_ascii_case(&name) && name.len() == 1)
}

fn sweep_keys() -> Vec<KeyEvent> {
    let mut keys = Vec::new();
    for c in ' '..='~' {
        keys.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        if c.is_ascii_uppercase() {
            keys.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::SHIFT));
        }
    }
    for c in 'a'..='z' {
        keys.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
        keys.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT));
    }
    let special = [
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::Insert,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Home,
        KeyCode::End,
    ];
    for code in special.into_iter().chain((1..=12).map(KeyCode::F)) {
        keys.push(KeyEvent::new(code, KeyModifiers::NONE));
    }
    keys
}

/// A key that triggers `k`, for sending it through the app.
fn example(k: Key) -> KeyEvent {
    match k {
        Key::Is(code) => KeyEvent::new(code, KeyModifiers::NONE),
        Key::Ctrl(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
        Key::Typed | Key::Any => KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE),
    }
}

#[tokio::test]
async fn every_key_that_changes_the_app_is_bound_and_listed_in_help() {
    let fixture = Fixture::new().await;
    let help = help_text(&fixture);
    let mut failures = Vec::new();
    for (screen, setup) in screens() {
        let mut before = fixture.app();
        setup(&mut before);
        let contexts = before.contexts();
        let start = fingerprint(&before);
        for key in sweep_keys() {
            let mut app = fixture.app();
            setup(&mut app);
            let effects: Vec<Effect> = app.on_key(key);
            if effects.is_empty() && fingerprint(&app) == start {
                continue;
            }
            let what = format!("{screen} {contexts:?}: {key:?}");
            match keymap::binding(&contexts, key) {
                None => failures.push(format!("{what} changes the app but no binding has it")),
                Some((b, _)) if !help.contains(&help_line(b)) => {
                    failures.push(format!("{what}: `{}` is not in ?", help_line(b)))
                }
                Some((b, _)) if !label_names(b, &key) => {
                    failures.push(format!("{what}: the label `{}` does not name it", b.keys))
                }
                Some(_) => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}\n{help}", failures.join("\n"));
}

/// The other way round: each key event of each binding reaches that binding
/// (nothing shadows it), is listed in `?`, and does something on at least
/// one screen, so the keymap promises nothing the app ignores.
#[tokio::test]
async fn every_binding_is_reachable_listed_and_does_something() {
    let fixture = Fixture::new().await;
    let help = help_text(&fixture);
    let mut prepared: Vec<(&str, Setup, Vec<Context>, String)> = Vec::new();
    for (screen, setup) in screens() {
        let mut app = fixture.app();
        setup(&mut app);
        let contexts = app.contexts();
        prepared.push((screen, setup, contexts, fingerprint(&app)));
    }
    let mut failures = Vec::new();
    for b in BINDINGS {
        if !help.contains(&help_line(b)) {
            failures.push(format!("`{}` is not in ?", help_line(b)));
        }
        for (k, action) in b.events {
            let key = example(*k);
            let mut effective = false;
            for (screen, setup, contexts, start) in
                prepared.iter().filter(|p| p.2.contains(&b.context))
            {
                let resolved = keymap::binding(contexts, key);
                if resolved.map(|(r, c)| (r.keys, r.context, c))
                    != Some((b.keys, b.context, *action))
                {
                    failures.push(format!(
                        "{screen}: {key:?} should trigger `{}` ({action:?}) but resolves to {:?}",
                        b.keys,
                        resolved.map(|(r, c)| (r.keys, c))
                    ));
                }
                let mut app = fixture.app();
                setup(&mut app);
                let effects = app.on_key(key);
                effective |= !effects.is_empty() || fingerprint(&app) != *start;
            }
            if !effective {
                failures.push(format!(
                    "{:?} `{}` {key:?} changed nothing on any screen",
                    b.context, b.keys
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}\n{help}", failures.join("\n"));
}

#[tokio::test]
async fn esc_never_quits_and_q_in_a_text_field_is_a_letter() {
    let fixture = Fixture::new().await;
    let esc = KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE);
    for (screen, setup) in screens() {
        let mut app = fixture.app();
        setup(&mut app);
        app.on_key(esc);
        assert!(!app.quitting, "Esc quit on {screen}");
    }
    let mut app = fixture.app();
    press(&mut app, "a");
    press(&mut app, "q");
    assert!(!app.quitting);
    let Some(Popup::Form(form)) = &app.popup else {
        panic!("the form closed on q");
    };
    assert_eq!(form.fields[form.focus].value, "q");
}

/// The footer keeps `?` and `q` at 80 columns wherever the lists are, even on
/// the Jobs tab whose own keys alone nearly fill the line.
#[tokio::test]
async fn the_footer_keeps_help_and_quit_at_80_columns() {
    let fixture = Fixture::new().await;
    for tab in ["1", "2", "3"] {
        let mut app = fixture.app();
        press(&mut app, tab);
        let footer = keymap::footer(&app.contexts(), 80);
        assert!(
            footer.contains("? help") && footer.contains("q quit") && footer.chars().count() <= 80,
            "tab {tab}: {footer}"
        );
    }
}
