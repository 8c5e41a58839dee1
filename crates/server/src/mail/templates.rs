//! The mails the server sends, one function per kind, each with a text and an
//! HTML body. Subjects follow Stack Auth's default templates, so apps and tests
//! that look for them find them.

/// A rendered mail.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// text/plain body.
    pub text: String,
    /// text/html body.
    pub html: String,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

fn html_page(heading: &str, paragraphs: &[String], button: (&str, &str)) -> String {
    html_page_with_code(heading, paragraphs, None, button)
}

/// A page whose first paragraphs are followed by `code` in a paragraph of
/// its own (`<p …>ABC123</p>`, where Stack Auth's templates put it and its
/// tests look for it), then the button.
fn html_page_with_code(
    heading: &str,
    paragraphs: &[String],
    code: Option<&str>,
    button: (&str, &str),
) -> String {
    let mut body: String = paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>", escape_html(p)))
        .collect();
    if let Some(code) = code {
        body.push_str(&format!(
            "<p style=\"font-size:28px;font-weight:bold;letter-spacing:4px\">{}</p>",
            escape_html(code)
        ));
    }
    format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\"><h1>{}</h1>{body}<p><a href=\"{}\">{}</a></p></body></html>",
        escape_html(heading),
        escape_html(button.1),
        escape_html(button.0),
    )
}

/// The sign-in mail: a one-time code and a magic link.
pub fn sign_in_code(project_name: &str, otp: &str, link: &str) -> Rendered {
    Rendered {
        subject: format!("Sign in to {project_name}: Your code is {otp}"),
        text: format!(
            "Sign in to {project_name}\n\nYour one-time code is: {otp}\n\nOr open this link to sign in:\n{link}\n\nIf you did not request this, you can ignore this mail.\n"
        ),
        html: html_page_with_code(
            &format!("Sign in to {project_name}"),
            &["Your one-time code is:".to_owned()],
            Some(otp),
            ("Or sign in with this link", link),
        ),
    }
}

/// The password reset mail.
pub fn password_reset(project_name: &str, link: &str) -> Rendered {
    Rendered {
        subject: format!("Reset your password at {project_name}"),
        text: format!(
            "Reset your password at {project_name}\n\nOpen this link to choose a new password:\n{link}\n\nIf you did not request this, you can ignore this mail.\n"
        ),
        html: html_page(
            &format!("Reset your password at {project_name}"),
            &["Use the link below to choose a new password.".to_owned()],
            ("Reset password", link),
        ),
    }
}

/// The email verification mail.
pub fn email_verification(project_name: &str, link: &str) -> Rendered {
    Rendered {
        subject: format!("Verify your email at {project_name}"),
        text: format!(
            "Verify your email at {project_name}\n\nOpen this link to verify your email address:\n{link}\n"
        ),
        html: html_page(
            &format!("Verify your email at {project_name}"),
            &["Use the link below to verify your email address.".to_owned()],
            ("Verify email", link),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_names_are_escaped_in_html() {
        let r = password_reset("<Evil & Co>", "http://localhost/cb?a=1&code=x");
        assert_eq!(r.subject, "Reset your password at <Evil & Co>");
        assert!(r.html.contains("&lt;Evil &amp; Co&gt;"));
        assert!(
            r.html
                .contains("href=\"http://localhost/cb?a=1&amp;code=x\"")
        );
        assert!(r.text.contains("http://localhost/cb?a=1&code=x"));
    }

    #[test]
    fn the_sign_in_subject_carries_the_code() {
        let r = sign_in_code("My App", "ABC123", "http://localhost/cb?code=abc");
        assert_eq!(r.subject, "Sign in to My App: Your code is ABC123");
        // The code stands alone in its paragraph, as in Stack Auth's template.
        assert!(r.html.contains(">ABC123</p>"), "{}", r.html);
    }
}
