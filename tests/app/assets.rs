//! The files of `assets/` (issue 16): the man page regenerated from the clap
//! definition (a stale committed copy fails the test, which rewrites it), the
//! shell completions loaded by bash, the systemd units verified by
//! `systemd-analyze` where it exists and parsed as INI everywhere, the cron
//! line, the Kubernetes manifest and the Dockerfile checked for structure.
//! `docker build` takes minutes and needs a daemon, so the Dockerfile gets a
//! lint-level check only (multi-stage, a non-root USER, no secret in it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;

use crate::support;

fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(asset(name)).unwrap_or_else(|e| panic!("assets/{name}: {e}"))
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// `dsp.1` and one page per command (`dsp-run.1`, which `dsp.1` refers to),
/// rendered from the clap definition the parser uses.
fn man_pages() -> Vec<(String, String)> {
    let render = |man: clap_mangen::Man| {
        let mut page = Vec::new();
        man.render(&mut page).unwrap();
        String::from_utf8(page).unwrap()
    };
    let top = dsp::cli::Cli::command();
    let mut pages = vec![(
        "dsp.1".to_string(),
        render(clap_mangen::Man::new(top.clone())),
    )];
    for sub in top.get_subcommands() {
        let title = format!("dsp-{}", sub.get_name());
        // The page's NAME is `dsp-run`, its synopsis `dsp run ...`. (A test
        // process: leaking a few names is harmless, and clap's names are &'static.)
        let name: &'static str = Box::leak(title.clone().into_boxed_str());
        let cmd = sub
            .clone()
            .name(name)
            .bin_name(format!("dsp {}", sub.get_name()));
        let man = clap_mangen::Man::new(cmd);
        pages.push((format!("{title}.1"), render(man)));
    }
    pages
}

#[test]
fn the_man_pages_are_generated_from_the_command_line_and_current() {
    let pages = man_pages();
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    for page in [
        "dsp-run.1",
        "dsp-list.1",
        "dsp-history.1",
        "dsp-reset.1",
        "dsp-completions.1",
    ] {
        assert!(names.contains(&page), "no {page}: {names:?}");
    }
    let dir = asset("man");
    std::fs::create_dir_all(&dir).unwrap();
    let mut stale = Vec::new();
    for (name, text) in &pages {
        let file = dir.join(name);
        if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&file, text).unwrap();
            stale.push(name.as_str());
        }
    }
    assert!(
        stale.is_empty(),
        "assets/man/ was stale and has been regenerated ({stale:?}); commit it"
    );
    if !have("groff") {
        return;
    }
    for (name, _) in &pages {
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww"])
            .arg(dir.join(name))
            .output()
            .unwrap();
        // Bold is written as "S\bS": keep the last of each overstrike.
        let mut rendered = String::new();
        for c in String::from_utf8_lossy(&out.stdout).chars() {
            if c == '\u{8}' {
                rendered.pop();
            } else {
                rendered.push(c);
            }
        }
        assert!(out.status.success(), "{name}");
        assert!(
            rendered.contains("SYNOPSIS") && rendered.contains("dsp"),
            "{name}: {rendered}"
        );
        assert!(
            out.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn completions(shell: &str) -> String {
    let out = Command::new(support::dsp_bin())
        .args(["completions", shell])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "completions {shell}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_loads_the_completions_and_completes_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        assert!(completions(shell).contains("completions"), "{shell}");
    }
    assert_ne!(
        Command::new(support::dsp_bin())
            .args(["completions", "tcsh"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    if !have("bash") {
        support::skip_tool("bash_loads_the_completions", "no bash");
        return;
    }
    let dir = support::temp_dir();
    let script = dir.path().join("dsp.bash");
    std::fs::write(&script, completions("bash")).unwrap();
    let probe = format!(
        "source '{}' && complete -p dsp && COMP_WORDS=(dsp h) COMP_CWORD=1 && _dsp dsp h dsp \
         && echo \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash").arg("-c").arg(probe).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("-F _dsp dsp"), "{said}");
    assert!(
        said.lines().last().unwrap_or("").contains("history"),
        "{said}"
    );
}

/// Sections of an INI-style unit file, each key with every value it is given.
fn ini(text: &str) -> HashMap<String, HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, HashMap<String, Vec<String>>> = HashMap::new();
    let mut section = String::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not key=value: {line}", n + 1));
        assert!(
            !section.is_empty(),
            "line {}: a key before any section",
            n + 1
        );
        let keys = out.entry(section.clone()).or_default();
        keys.entry(k.trim().into())
            .or_default()
            .push(v.trim().into());
    }
    out
}

#[test]
fn the_systemd_units_are_valid_and_hardened() {
    for (unit, runs) in [
        ("dsp-daemon.service", "daemon"),
        ("dsp-run@.service", "run \"%I\""),
    ] {
        let u = ini(&read(unit));
        let svc = &u["Service"];
        let one = |k: &str| svc.get(k).and_then(|v| v.last()).map(String::as_str);
        assert_eq!(
            one("ExecStart"),
            Some(format!("/usr/local/bin/dsp {runs}").as_str())
        );
        assert_eq!(one("User"), Some("dsp"), "{unit}: a dedicated user");
        assert_eq!(one("NoNewPrivileges"), Some("yes"), "{unit}");
        assert_eq!(one("ProtectSystem"), Some("strict"), "{unit}");
        assert_eq!(one("CapabilityBoundingSet"), Some(""), "{unit}");
        assert!(
            one("EnvironmentFile").is_some_and(|f| f.contains("secrets")),
            "{unit}"
        );
        assert!(
            svc["Environment"]
                .iter()
                .any(|e| e.starts_with("DSP_DATA_DIR=")),
            "{unit}"
        );
    }
    let timer = ini(&read("dsp-run@.timer"));
    assert!(timer["Timer"].contains_key("OnCalendar"));
    assert_eq!(timer["Install"]["WantedBy"], ["timers.target"]);

    if !have("systemd-analyze") {
        support::skip_tool(
            "the_systemd_units_are_valid",
            "no systemd-analyze; INI checks only",
        );
        return;
    }
    // verify wants the binary to exist and a template to have an instance.
    let dir = support::temp_dir();
    let bin = support::dsp_bin().display().to_string();
    let put = |from: &str, to: &str| {
        let text = read(from).replace("/usr/local/bin/dsp", &bin);
        let path = dir.path().join(to);
        std::fs::write(&path, text).unwrap();
        path
    };
    let files = [
        put("dsp-daemon.service", "dsp-daemon.service"),
        put("dsp-run@.service", "dsp-run@nightly.service"),
        put("dsp-run@.timer", "dsp-run@nightly.timer"),
    ];
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&files)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Unknown keys are only warned about: any word on a unit is a failure.
    assert!(!err.contains("dsp-"), "{err}");
}

#[test]
fn the_cron_line_runs_one_job() {
    let text = read("cron.example");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.contains('='))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let fields: Vec<&str> = lines[0].split_whitespace().collect();
    let cron = fields[..5].join(" ");
    dsp::engine::schedule::parse(&cron).unwrap_or_else(|e| panic!("{cron}: {e}"));
    assert_eq!(fields[5], "dsp", "runs as the dsp user");
    assert!(lines[0].contains("/usr/local/bin/dsp") && lines[0].contains(" run "));
}

#[test]
fn the_kubernetes_cronjob_runs_one_job_with_secrets_from_a_secret() {
    let text = read("k8s-cronjob.yaml");
    for needed in [
        "apiVersion: batch/v1",
        "kind: CronJob",
        "concurrencyPolicy: Forbid",
        "secretKeyRef:",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "args: [\"run\", ",
        "state = \"target\"",
        "emptyDir: {}",
    ] {
        assert!(text.contains(needed), "the manifest lacks {needed:?}");
    }
    assert!(!text.contains('\t'), "YAML takes no tabs");
    // The workspace it carries is one DSP loads.
    let ws: String = text
        .lines()
        .skip_while(|l| !l.contains("workspace.toml: |"))
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| format!("{}\n", l.get(4..).unwrap_or("")))
        .collect();
    let dir = support::temp_dir();
    let file = dir.path().join("workspace.toml");
    std::fs::write(&file, &ws).unwrap();
    let loaded =
        dsp::workspace::load(&file).unwrap_or_else(|e| panic!("{ws}\n{:?}", e.diagnostics));
    assert!(
        text.contains(&format!("\"{}\"]", loaded.jobs[0].name)),
        "args name the job"
    );
    assert!(
        !text.contains("PersistentVolumeClaim") && !text.contains("NOT BUILT YET"),
        "with the state in the target the pod needs no volume of its own"
    );
    assert_eq!(
        loaded.state_of(&loaded.jobs[0]),
        dsp::workspace::StateStore::Target
    );
    // A full YAML parse where python3 has PyYAML.
    let parse =
        "import sys, yaml; print(' '.join(d['kind'] for d in yaml.safe_load_all(sys.stdin)))";
    let Ok(mut child) = Command::new("python3")
        .args(["-c", parse])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        return;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("No module named") {
        return;
    }
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Secret ConfigMap CronJob"
    );
}

#[test]
fn the_dockerfile_builds_in_stages_and_runs_as_a_non_root_user() {
    let text = read("Dockerfile");
    let instructions: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.starts_with(' ') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(' '))
        .map(|(i, rest)| (i.to_uppercase(), rest.trim().to_string()))
        .collect();
    let froms: Vec<&(String, String)> = instructions.iter().filter(|(i, _)| i == "FROM").collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    let runtime = instructions.iter().rposition(|(i, _)| i == "FROM").unwrap();
    let user = instructions[runtime..]
        .iter()
        .rfind(|(i, _)| i == "USER")
        .map(|(_, u)| u.clone())
        .expect("the runtime stage sets a USER");
    let name = user.split(':').next().unwrap();
    assert!(!["root", "0"].contains(&name), "runs as {user}");
    assert!(
        instructions
            .iter()
            .any(|(i, v)| i == "ENTRYPOINT" && v.contains("/usr/local/bin/dsp")),
        "{text}"
    );
    assert!(
        !text.to_uppercase().contains("PASSWORD="),
        "no secret in the image"
    );
    // The context it builds from must hold what it copies.
    for (i, v) in &instructions {
        if i == "COPY" && !v.starts_with("--from") {
            for src in v.split_whitespace().rev().skip(1) {
                assert!(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join(src).exists(),
                    "{src}"
                );
            }
        }
    }
    let ignore = read("Dockerfile.dockerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "*"),
        "the context leaves target/ out"
    );
}
