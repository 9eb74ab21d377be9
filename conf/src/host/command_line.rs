//! The shell-word splitter behind `run: command=` and `ps_command:`: a
//! command line split into program and arguments the way a POSIX shell
//! would, so it can be run without one.

use crate::model::CommandLine;

impl CommandLine {
    /// Splits `text` into words as a POSIX shell would, without running one:
    /// whitespace separates words; `'...'` is literal; in `"..."` a backslash
    /// escapes only `$`, `` ` ``, `"` and `\`; outside quotes a backslash
    /// escapes any character. No variables, globs or pipes: write
    /// `sh -c "..."` for those.
    pub fn parse(text: &str) -> Result<CommandLine, String> {
        let mut argv = Vec::new();
        let mut word = String::new();
        let mut in_word = false;
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' => {
                    in_word = true;
                    loop {
                        match chars.next() {
                            Some('\'') => break,
                            Some(c) => word.push(c),
                            None => return Err("unbalanced single quote".to_string()),
                        }
                    }
                }
                '"' => {
                    in_word = true;
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some(c @ ('$' | '`' | '"' | '\\')) => word.push(c),
                                Some('\n') => {}
                                Some(c) => {
                                    word.push('\\');
                                    word.push(c);
                                }
                                None => return Err("unbalanced double quote".to_string()),
                            },
                            Some(c) => word.push(c),
                            None => return Err("unbalanced double quote".to_string()),
                        }
                    }
                }
                '\\' => {
                    in_word = true;
                    match chars.next() {
                        Some('\n') => {}
                        Some(c) => word.push(c),
                        None => return Err("the command ends with a lone backslash".to_string()),
                    }
                }
                c if c.is_whitespace() => {
                    if in_word {
                        argv.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                c => {
                    in_word = true;
                    word.push(c);
                }
            }
        }
        if in_word {
            argv.push(word);
        }
        if argv.is_empty() {
            return Err("the command is empty".to_string());
        }
        Ok(CommandLine {
            text: text.to_string(),
            argv,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        CommandLine::parse(text).unwrap().argv
    }

    #[test]
    fn command_words_split_like_a_shell() {
        assert_eq!(words("df -P"), ["df", "-P"]);
        assert_eq!(words("  df\t -P  "), ["df", "-P"]);
        assert_eq!(
            words(r#"sh -c "ps ax | grep -c 'ng inx'""#),
            ["sh", "-c", "ps ax | grep -c 'ng inx'"]
        );
        assert_eq!(words(r#"echo 'a "b" \c'"#), ["echo", r#"a "b" \c"#]);
        assert_eq!(
            words(r#"echo "a \"b\" \$x \n""#),
            ["echo", r#"a "b" $x \n"#]
        );
        assert_eq!(words(r"echo a\ b\'c"), ["echo", "a b'c"]);
        assert_eq!(words(r#"echo '' "" x"#), ["echo", "", "", "x"]);
        assert_eq!(words(r#"a'b'"c"d"#), ["abcd"]);
        assert_eq!(words("echo $HOME *"), ["echo", "$HOME", "*"]);
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for bad in ["", "   ", "echo 'a", "echo \"a", "echo a\\", "echo \"a\\"] {
            assert!(CommandLine::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
