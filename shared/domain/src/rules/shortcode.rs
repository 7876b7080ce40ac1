//! Greeting shortcodes: `$username` (the customer's name) and `$agentname` (the assigned agent's name).

/// Fills in the shortcodes in one pass (a name that itself contains `$agentname` is not expanded again).
///
/// An unknown value removes the shortcode together with one space before it, so `"Hi $username, welcome"`
/// becomes `"Hi, welcome"` rather than `"Hi , welcome"`. Any other `$` text is left as written.
pub fn render(template: &str, username: Option<&str>, agentname: Option<&str>) -> String {
    const CODES: [&str; 2] = ["$username", "$agentname"];
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let code = CODES.iter().find(|c| {
            tail.starts_with(**c)
                && !tail[c.len()..]
                    .chars()
                    .next()
                    .is_some_and(|ch| ch.is_alphanumeric() || ch == '_')
        });
        match code {
            Some(code) => {
                let value = if *code == "$username" {
                    username
                } else {
                    agentname
                };
                match value.map(str::trim).filter(|v| !v.is_empty()) {
                    Some(v) => out.push_str(v),
                    None => {
                        if out.ends_with(' ') {
                            out.pop();
                        }
                    }
                }
                rest = &tail[code.len()..];
            }
            None => {
                out.push('$');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn fills_both_codes() {
        assert_eq!(
            render(
                "Hi $username, I am $agentname.",
                Some("Li Lei"),
                Some("Amy")
            ),
            "Hi Li Lei, I am Amy."
        );
        assert_eq!(
            render("您好$username，我是$agentname", Some("小明"), Some("王芳")),
            "您好小明，我是王芳"
        );
    }

    #[test]
    fn unknown_values_disappear_cleanly() {
        assert_eq!(render("Hi $username, welcome", None, None), "Hi, welcome");
        assert_eq!(render("Hi $username", Some("  "), None), "Hi");
    }

    #[test]
    fn values_are_not_expanded_again_and_other_dollars_stay() {
        assert_eq!(
            render("$username", Some("$agentname"), Some("Amy")),
            "$agentname"
        );
        assert_eq!(
            render("Costs $5, $usernames $user", Some("x"), None),
            "Costs $5, $usernames $user"
        );
        assert_eq!(render("$$username$", Some("x"), None), "$x$");
    }
}
