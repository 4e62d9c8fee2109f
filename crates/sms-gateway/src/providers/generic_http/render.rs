//! Placeholder substitution for the generic provider: `$ctx.num` (the number) and `$ctx.msg`
//! (the text), each escaped for the place it is written to.

/// How a substituted value is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// `application/x-www-form-urlencoded` style: space as `+`, `+` as `%2B` (Java's
    /// `URLEncoder`, which WSO2 uses).
    Url,
    /// The inside of a JSON string: the template supplies the quotes.
    Json,
    /// XML character data or an attribute value.
    Xml,
}

pub(crate) const NUMBER: &str = "$ctx.num";
pub(crate) const MESSAGE: &str = "$ctx.msg";

/// `template` with every placeholder replaced by its escaped value. Substitution is a single
/// pass, so a value that itself contains `$ctx.msg` is never substituted again.
pub(crate) fn render(template: &str, number: &str, message: &str, escape: Escape) -> String {
    let (number, message) = (apply(escape, number), apply(escape, message));
    let mut out = String::with_capacity(template.len() + message.len());
    let mut rest = template;
    while let Some(at) = rest.find("$ctx.") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix(NUMBER) {
            out.push_str(&number);
            rest = after;
        } else if let Some(after) = tail.strip_prefix(MESSAGE) {
            out.push_str(&message);
            rest = after;
        } else {
            out.push_str("$ctx.");
            rest = &tail["$ctx.".len()..];
        }
    }
    out.push_str(rest);
    out
}

fn apply(escape: Escape, value: &str) -> String {
    match escape {
        Escape::Url => form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        Escape::Json => {
            let quoted = serde_json::Value::String(value.to_owned()).to_string();
            let inner = quoted.strip_prefix('"').and_then(|s| s.strip_suffix('"'));
            inner.unwrap_or(&quoted).to_owned()
        }
        Escape::Xml => value
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;"),
    }
}

#[cfg(test)]
mod tests;
