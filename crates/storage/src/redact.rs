//! Database URLs in messages: the password (in the authority or in a query parameter) is
//! replaced, so that errors and logs can name the database they are about.

/// `postgres://app:s3cret@db:5432/twostep` becomes `postgres://app:***@db:5432/twostep`.
pub(crate) fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                    format!("{key}=***")
                }
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// The secrets in `url` (the password and password-like query values), so that a message
/// quoting them can be cleaned.
pub(crate) fn secrets(url: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    if let Some((_, rest)) = base.split_once("://") {
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            out.push(password);
        }
    }
    for param in query.split('&') {
        if let Some((key, value)) = param.split_once('=')
            && key.to_ascii_lowercase().contains("password")
        {
            out.push(value);
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// `text` with the URL and each of its secrets replaced by their redacted forms.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    for secret in secrets(url) {
        out = out.replace(secret, "***");
    }
    out
}

#[cfg(test)]
mod tests;
