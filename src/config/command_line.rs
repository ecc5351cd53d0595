//! Splitting a command line given as one string (`command = "prog --flag 'two words'"`) into
//! argv words, the way a POSIX shell splits words but without running one.
//!
//! Used for a service's `command` (unless `shell = true`), for `ready.exec` and for a
//! `[[notify]]` entry's `command`; the only place where wrangle turns a string into words.

/// Splits a command line into argv words the way a POSIX shell splits words, without any of
/// the shell's other powers: `;`, `|`, `&&`, `$(...)`, backticks, globs and `#` stay literal
/// words. Quoting works as in `sh`: `'...'` is literal, `"..."` keeps spaces and honours `\"`,
/// `\\`, `\$` and `` \` ``, and a backslash outside quotes escapes the next character.
///
/// Written here rather than taken from `shlex::split`, which treats a word starting with `#` as
/// the start of a comment and would silently drop the rest of the command.
///
/// Returns a message when the line cannot be split or yields no word.
pub(crate) fn split_command_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(quoted) => word.push(quoted),
                        None => return Err("unbalanced quotes or trailing backslash in command"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped @ ('"' | '\\' | '$' | '`')) => word.push(escaped),
                            Some('\n') => {}
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => {
                                return Err("unbalanced quotes or trailing backslash in command");
                            }
                        },
                        Some(quoted) => word.push(quoted),
                        None => return Err("unbalanced quotes or trailing backslash in command"),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(escaped) => {
                    in_word = true;
                    word.push(escaped);
                }
                None => return Err("unbalanced quotes or trailing backslash in command"),
            },
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("command is empty");
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_like_shell_words_without_a_shell() {
        assert_eq!(
            split_command_line("echo a; rm -rf / $(whoami) `x` *"),
            Ok(vec![
                "echo".to_string(),
                "a;".to_string(),
                "rm".to_string(),
                "-rf".to_string(),
                "/".to_string(),
                "$(whoami)".to_string(),
                "`x`".to_string(),
                "*".to_string(),
            ])
        );
        assert!(split_command_line("echo 'open").is_err());
        assert!(split_command_line("   ").is_err());
    }

    #[test]
    fn split_keeps_hash_and_shell_operators_literal_and_honours_quotes() {
        let words = |line: &str| split_command_line(line).expect("splits");
        assert_eq!(
            words("prog before #hash after"),
            ["prog", "before", "#hash", "after"]
        );
        assert_eq!(
            words("a;b | c && $(d) `e` *"),
            ["a;b", "|", "c", "&&", "$(d)", "`e`", "*"]
        );
        assert_eq!(
            words(r#"say "two words" 'it''s' x\ y"#),
            ["say", "two words", "its", "x y"]
        );
        assert_eq!(
            words(r#"echo "a \"q\" \$HOME \n""#),
            ["echo", r#"a "q" $HOME \n"#]
        );
        assert_eq!(words("echo '' \"\""), ["echo", "", ""]);
        assert!(split_command_line("echo \\").is_err());
        assert!(split_command_line("echo \"open").is_err());
    }
}
