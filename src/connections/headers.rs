//! A request's own header fields over the crawl's template.

/// The template's header fields with a request's own: a field of the same
/// name replaces the template's (`User-Agent` and `Accept-Encoding`, which
/// the encoder writes itself, included).
pub(super) struct MergedHeaders<'a> {
    pub headers: Vec<(String, String)>,
    pub user_agent: &'a str,
    pub accept_encoding: &'a str,
}

impl<'a> MergedHeaders<'a> {
    pub(super) fn new(t: &'a crate::config::RequestTemplate, own: &'a [(String, String)]) -> Self {
        let find = |name: &str| {
            own.iter()
                .rev()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let fixed = |n: &str| {
            n.eq_ignore_ascii_case("user-agent") || n.eq_ignore_ascii_case("accept-encoding")
        };
        let overridden = |n: &str| own.iter().any(|(o, _)| o.eq_ignore_ascii_case(n));
        let template = t.headers.iter().filter(|(n, _)| !overridden(n));
        let mine = own.iter().filter(|(n, _)| !fixed(n));
        MergedHeaders {
            headers: template.chain(mine).cloned().collect(),
            user_agent: find("user-agent").unwrap_or(&t.user_agent),
            accept_encoding: find("accept-encoding").unwrap_or(&t.accept_encoding),
        }
    }
}
