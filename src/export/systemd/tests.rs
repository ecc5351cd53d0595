use super::*;

#[test]
fn exec_words_are_quoted_and_escaped_only_when_needed() {
    let argv: Vec<String> = [
        "python3",
        "api.py",
        "--port=8080",
        "two words",
        "$HOME",
        "${PATH}",
        "100%",
        "%h",
        "say \"hi\"",
        "back\\slash",
        "line\nbreak",
        ";",
        "",
        "it's",
        "#hash",
        "ünï",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        exec_start(&argv, Path::new("/srv")).expect("valid"),
        r##"python3 api.py --port=8080 "two words" "$$HOME" "$${PATH}" "100%%" "%%h" "say \"hi\"" "back\\slash" "line\nbreak" ";" "" "it's" "#hash" "ünï""##
    );
}

#[test]
fn a_relative_program_is_made_absolute_and_a_prefix_character_is_quoted() {
    let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    assert_eq!(
        exec_start(&argv(&["./bin/../api", "x"]), Path::new("/srv/app")).expect("valid"),
        "/srv/app/api x"
    );
    assert_eq!(
        exec_start(&argv(&["bin/api"]), Path::new("/srv/app")).expect("valid"),
        "/srv/app/bin/api"
    );
    assert_eq!(
        exec_start(&argv(&["-dash", "-x"]), Path::new("/srv")).expect("valid"),
        r#""-dash" -x"#
    );
    assert_eq!(
        exec_start(&argv(&["@at"]), Path::new("/srv")).expect("valid"),
        r#""@at""#
    );
    assert!(exec_start(&argv(&[""]), Path::new("/srv")).is_err());
}

#[test]
fn environment_values_are_quoted_and_bad_names_are_skipped() {
    let mut service = crate::export::tests::service("api");
    service.env = [
        ("PLAIN", "x"),
        ("SPACES", "a b"),
        ("QUOTES", "say \"hi\" it's"),
        ("PERCENT", "100%"),
        ("DOLLAR", "$HOME"),
        ("NEWLINE", "one\ntwo"),
        ("BELL", "\u{7}"),
        ("1BAD", "x"),
        ("has.dot", "x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (assignments, skipped) = environment(&service);
    assert_eq!(
        assignments,
        [
            r#""BELL=\x07""#,
            r#""DOLLAR=$HOME""#,
            r#""NEWLINE=one\ntwo""#,
            r#""PERCENT=100%%""#,
            r#""PLAIN=x""#,
            r#""QUOTES=say \"hi\" it's""#,
            r#""SPACES=a b""#,
        ]
    );
    assert_eq!(skipped, ["1BAD", "has.dot"]);
}

#[test]
fn a_working_directory_with_a_control_character_cannot_be_exported() {
    assert_eq!(
        unit_path(Path::new("/srv/100%"), "cwd").expect("valid"),
        "/srv/100%%"
    );
    assert!(unit_path(Path::new("/srv/a\nb"), "cwd").is_err());
    assert!(unit_path(Path::new("/srv/trailing "), "cwd").is_err());
}

#[test]
fn unit_names_keep_only_safe_characters() {
    assert_eq!(unit_prefix("demo"), "demo");
    assert_eq!(unit_prefix("my app"), "my_app");
    assert_eq!(unit_prefix("..."), "project");
    assert_eq!(unit_prefix("x@y:z"), "x_y_z");
}
