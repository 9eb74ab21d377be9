//! Include expansion against real folders: markers, chains in errors,
//! cycles, depth, names, sizes, versions.

use std::fs;
use std::path::Path;

use conf::{ConfigVersion, HostFileError, HostName, expand_host, load_host, load_host_in_memory};
use tempfile::TempDir;

struct World {
    _dir: TempDir,
    hosts: std::path::PathBuf,
    includes: std::path::PathBuf,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        let includes = dir.path().join("includes");
        fs::create_dir(&hosts).unwrap();
        fs::create_dir(&includes).unwrap();
        World {
            _dir: dir,
            hosts,
            includes,
        }
    }
    fn host(&self, name: &str, text: &str) -> &Self {
        fs::write(self.hosts.join(name), text).unwrap();
        self
    }
    fn include(&self, name: &str, text: &str) -> &Self {
        fs::write(self.includes.join(name), text).unwrap();
        self
    }
    fn errors(&self, host: &str) -> Vec<String> {
        let load = load_host(&self.hosts, &self.includes, &HostName::new(host).unwrap()).unwrap();
        load.errors.iter().map(ToString::to_string).collect()
    }
}

const GROUP: &str = "file: /var/log/x\nmatch: x\nalert_all: tags=t\n";

#[test]
fn expansion_splices_includes_with_markers_and_drops_comments() {
    let w = World::new();
    w.host(
        "h",
        "# web\n\ninclude: a\nprocess: p   \r\nalert_running: tags=t min=1 max=1 message=m\n",
    )
    .include(
        "a",
        "# a\nfile: /x\n  match: y\ninclude: b\nalert_all: tags=t\n",
    )
    .include("b", "\n\nactive: 1;00:00-01:00\n");
    let ex = expand_host(&w.hosts, &w.includes, &HostName::new("h").unwrap()).unwrap();
    assert_eq!(
        ex.text,
        "#@ includes/a 2 hosts/h:3\nfile: /x\n  match: y\n\
         #@ includes/b 3 hosts/h:3 includes/a:4\nactive: 1;00:00-01:00\n\
         #@ includes/a 5 hosts/h:3\nalert_all: tags=t\n\
         #@ hosts/h 4\nprocess: p\nalert_running: tags=t min=1 max=1 message=m\n"
    );
    assert!(ex.errors.is_empty());
    assert_eq!(ex.version, ConfigVersion::of(&ex.text));
    assert_eq!(ex.includes.iter().collect::<Vec<_>>(), ["a", "b"]);
    let (config, errors) = conf::parse_host(&ex.text);
    assert!(errors.is_empty());
    assert_eq!(config.logs[0].origin.file, "includes/a");
    assert_eq!(config.logs[0].origin.line, 5);
    assert_eq!(
        config.logs[0].origin.included_from,
        [("hosts/h".to_string(), 3)]
    );
    assert!(config.logs[0].active.is_some());
    assert_eq!(config.processes[0].origin.line, 5);
}

#[test]
fn error_inside_nested_include_names_file_line_and_chain() {
    let w = World::new();
    w.host("h", "include: a\n")
        .include("a", "# a\n\ninclude: b\n")
        .include("b", "file: /x\nmatch: (unclosed\nalert_all: tags=t\n");
    assert_eq!(
        w.errors("h"),
        [
            "includes/b:2: bad regex `(unclosed`: unclosed group (included from hosts/h:1, includes/a:3)"
        ]
    );
}

#[test]
fn missing_include_is_an_error_at_the_include_line_and_the_rest_expands() {
    let w = World::new();
    w.host("h", &format!("include: nope\n{GROUP}"));
    let load = load_host(&w.hosts, &w.includes, &HostName::new("h").unwrap()).unwrap();
    let shown: Vec<String> = load.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["hosts/h:1: include file includes/nope does not exist"]
    );
    assert_eq!(load.config.logs.len(), 1);
    // Creating it later must be noticed as a change to this host.
    assert!(load.expanded.includes.contains("nope"));
}

#[test]
fn include_cycle_is_reported_not_looped() {
    let w = World::new();
    w.host("h", &format!("include: a\n{GROUP}"))
        .include("a", "include: b\n")
        .include("b", "# b\ninclude: a\n");
    assert_eq!(
        w.errors("h"),
        [
            "includes/b:2: include cycle: includes/a -> includes/b -> includes/a (included from hosts/h:1, includes/a:1)"
        ]
    );
    let w = World::new();
    w.host("h", "include: self\n")
        .include("self", "include: self\n");
    assert_eq!(
        w.errors("h"),
        [
            "includes/self:1: include cycle: includes/self -> includes/self (included from hosts/h:1)"
        ]
    );
}

#[test]
fn include_depth_of_eight_is_fine_nine_is_an_error() {
    let w = World::new();
    for i in 1..=9 {
        w.include(&format!("i{i}"), &format!("include: i{}\n", i + 1));
    }
    w.include("i10", GROUP);
    // From i2 the chain is 8 deep: i2 (depth 1) … i9 (depth 8) -> i10 would be 9.
    w.host("deep", "include: i1\n").host("ok", "include: i3\n");
    let errors = w.errors("deep");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "includes/i8:1: include depth exceeds 8: hosts/deep -> includes/i1 -> includes/i2 -> includes/i3 -> includes/i4 -> includes/i5 -> includes/i6 -> includes/i7 -> includes/i8 -> includes/i9 (included from hosts/deep:1,"
        ),
        "{errors:?}"
    );
    assert_eq!(w.errors("ok"), Vec::<String>::new());
}

#[test]
fn include_names_that_are_not_plain_file_names_are_refused_unopened() {
    let w = World::new();
    fs::write(w.hosts.join("..").join("secret"), GROUP).unwrap();
    w.host(
        "h",
        "include: ../secret\ninclude: .hidden\ninclude:\ninclude: a/b\n",
    );
    assert_eq!(
        w.errors("h"),
        [
            "hosts/h:1: `include: ../secret` is not a plain file name in the includes folder: the name contains '/'; only letters, digits, `.`, `_` and `-` are allowed",
            "hosts/h:2: `include: .hidden` is not a plain file name in the includes folder: the name starts with `.`",
            "hosts/h:3: `include:` needs a file name",
            "hosts/h:4: `include: a/b` is not a plain file name in the includes folder: the name contains '/'; only letters, digits, `.`, `_` and `-` are allowed",
        ]
    );
}

#[test]
fn host_names_that_could_escape_are_refused_before_any_file_is_opened() {
    for bad in ["../ax436.conf", "a/b", ".hidden", ""] {
        assert!(HostName::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn host_file_problems_are_host_file_errors() {
    let w = World::new();
    let name = HostName::new("nobody").unwrap();
    assert!(matches!(
        expand_host(&w.hosts, &w.includes, &name),
        Err(HostFileError::NotFound)
    ));
    w.host("big", &"#".repeat((1 << 20) + 1));
    assert!(matches!(
        load_host(&w.hosts, &w.includes, &HostName::new("big").unwrap()),
        Err(HostFileError::TooLarge { .. })
    ));
}

#[test]
fn oversized_include_is_an_error_at_its_include_line() {
    let w = World::new();
    w.host("h", &format!("{GROUP}include: big\n"))
        .include("big", &"#".repeat((1 << 20) + 1));
    assert_eq!(
        w.errors("h"),
        ["hosts/h:4: include file includes/big is 1048577 bytes; at most 1048576 are read"]
    );
}

#[test]
fn diamond_includes_cannot_blow_up_the_expanded_text() {
    let w = World::new();
    // Each level includes the next 8 times: 8^7 copies if unbounded.
    let line = format!("file: /var/log/{}\n", "long-name".repeat(300));
    w.include("l7", &format!("{line}match: x\nalert_all: tags=t\n"));
    for level in (1..7).rev() {
        w.include(
            &format!("l{level}"),
            &format!("include: l{}\n", level + 1).repeat(8),
        );
    }
    w.host("h", "include: l1\n");
    let load = load_host(&w.hosts, &w.includes, &HostName::new("h").unwrap()).unwrap();
    assert!(load.expanded.text.len() <= conf::expand::MAX_EXPANDED_BYTES);
    assert_eq!(
        load.errors.len(),
        1,
        "{:?}",
        &load.errors[..load.errors.len().min(3)]
    );
    assert!(
        load.errors[0]
            .message
            .contains("expanded configuration exceeds")
    );
}

#[test]
fn diamond_of_empty_includes_stops_after_a_bounded_number_of_reads() {
    let w = World::new();
    w.include("l8", "# nothing here\n");
    for level in (1..8).rev() {
        w.include(
            &format!("l{level}"),
            &format!("include: l{}\n", level + 1).repeat(8),
        );
    }
    w.host("h", "include: l1\n");
    let started = std::time::Instant::now();
    let load = load_host(&w.hosts, &w.includes, &HostName::new("h").unwrap()).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(load.errors.len(), 1);
    assert!(
        load.errors[0]
            .message
            .starts_with("more than 1000 include files read"),
        "{}",
        load.errors[0]
    );
}

#[test]
fn non_utf8_line_is_an_error_at_its_line_and_others_still_load() {
    let w = World::new();
    let mut bytes = b"frob: \xff\xfe\n".to_vec();
    bytes.extend_from_slice(GROUP.as_bytes());
    fs::write(w.hosts.join("h"), bytes).unwrap();
    let load = load_host(&w.hosts, &w.includes, &HostName::new("h").unwrap()).unwrap();
    let shown: Vec<String> = load.errors.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["hosts/h:1: the line is not UTF-8 text"]);
    assert_eq!(load.config.logs.len(), 1);
}

#[test]
fn expansion_and_parse_errors_come_in_line_order() {
    let w = World::new();
    w.host(
        "h",
        "frob: 1\ninclude: missing\nfrob: 2\ninclude: a\nfrob: 3\n",
    )
    .include("a", "frob: a\n");
    assert_eq!(
        w.errors("h"),
        [
            "hosts/h:1: unknown directive `frob:`",
            "hosts/h:2: include file includes/missing does not exist",
            "hosts/h:3: unknown directive `frob:`",
            "includes/a:1: unknown directive `frob:` (included from hosts/h:4)",
            "hosts/h:5: unknown directive `frob:`",
        ]
    );
}

#[test]
fn version_changes_with_the_content_of_an_include() {
    let w = World::new();
    w.host("h", "include: a\n").include("a", GROUP);
    let name = HostName::new("h").unwrap();
    let v1 = expand_host(&w.hosts, &w.includes, &name).unwrap().version;
    assert_eq!(
        v1,
        expand_host(&w.hosts, &w.includes, &name).unwrap().version
    );
    w.include("a", &GROUP.replace("tags=t", "tags=u"));
    let v2 = expand_host(&w.hosts, &w.includes, &name).unwrap().version;
    assert_ne!(v1, v2);
}

#[test]
fn shipped_folders_expand_through_the_public_api() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ex = expand_host(
        &repo.join("hosts_436"),
        &repo.join("includes_436"),
        &HostName::new("db1").unwrap(),
    )
    .unwrap();
    assert!(ex.text.contains("#@ includes/sshd "));
    assert!(ex.errors.is_empty());
}

#[test]
fn files_given_in_memory_load_exactly_as_from_folders() {
    let w = World::new();
    let host = "frob: 1\ninclude: missing\ninclude: a\ninclude: ../x\nfrob: 3\n";
    let a = "file: /x\ninclude: b\nmatch: y\nalert_all: tags=t\n";
    let b = "include: a\nfrob: b\n";
    w.host("h", host).include("a", a).include("b", b);
    let name = HostName::new("h").unwrap();
    let from_files = load_host(&w.hosts, &w.includes, &name).unwrap();
    let includes = [("a", a), ("b", b)]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec()))
        .collect();
    let in_memory = load_host_in_memory(&name, host.as_bytes(), &includes);
    assert_eq!(in_memory.expanded, from_files.expanded);
    assert_eq!(in_memory.errors, from_files.errors);
    assert_eq!(
        in_memory.config.group_count(),
        from_files.config.group_count()
    );
    assert_eq!(from_files.errors.len(), 6, "{:?}", from_files.errors);
}
