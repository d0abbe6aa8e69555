//! Request parameters, read from the query and the body together as the gateway does:
//! `application/x-www-form-urlencoded` and `multipart/form-data` bodies.

use std::collections::BTreeMap;

use crate::message::HttpRequest;

/// A file part of a multipart body (never signed).
#[derive(Debug, Clone)]
pub(crate) struct FileParam {
    /// The file name sent, if any.
    pub(crate) filename: String,
    /// Its size in bytes.
    pub(crate) size: usize,
}

/// Every parameter of a request. A key sent twice keeps its last value (the body after the query).
#[derive(Debug, Default)]
pub(crate) struct Params {
    /// Text parameters.
    pub(crate) text: BTreeMap<String, String>,
    /// File parts, by parameter name.
    pub(crate) files: BTreeMap<String, FileParam>,
}

impl Params {
    /// A text parameter.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.text.get(key).map(String::as_str)
    }

    /// A text parameter that is present and not blank.
    pub(crate) fn non_blank(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.trim().is_empty())
    }
}

/// Reads the query and the body. Errors name what is malformed.
pub(crate) fn parse(request: &HttpRequest) -> Result<Params, String> {
    let mut params = Params::default();
    for (k, v) in form_urlencoded::parse(request.query().as_bytes()) {
        params.text.insert(k.into_owned(), v.into_owned());
    }
    if request.body.is_empty() {
        return Ok(params);
    }
    let content_type = request.header("content-type").unwrap_or("");
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("multipart/form-data") {
        let boundary = content_type
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .ok_or("multipart body without a boundary")?;
        parse_multipart(&request.body, &boundary, &mut params)?;
    } else if lower.is_empty() || lower.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in form_urlencoded::parse(&request.body) {
            params.text.insert(k.into_owned(), v.into_owned());
        }
    }
    // Other bodies (JSON, …) carry no parameters for the gateway.
    Ok(params)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn parse_multipart(body: &[u8], boundary: &str, params: &mut Params) -> Result<(), String> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut pos = find(body, delimiter, 0).ok_or("multipart body without its boundary")?;
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            return Ok(());
        }
        // Skip transport padding and the CRLF after the delimiter.
        let part_start = find(body, b"\n", pos).ok_or("truncated multipart body")? + 1;
        let head_end =
            find(body, b"\r\n\r\n", part_start).ok_or("multipart part without headers")?;
        let head = String::from_utf8_lossy(&body[part_start..head_end]);
        let content_start = head_end + 4;
        let mut next_delimiter = b"\r\n".to_vec();
        next_delimiter.extend_from_slice(delimiter);
        let content_end =
            find(body, &next_delimiter, content_start).ok_or("multipart part not terminated")?;
        let content = &body[content_start..content_end];

        let mut name = None;
        let mut filename = None;
        for line in head.lines() {
            let Some((header, value)) = line.split_once(':') else {
                continue;
            };
            if !header.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for attr in value.split(';').skip(1) {
                if let Some((k, v)) = attr.trim().split_once('=') {
                    let v = v.trim().trim_matches('"').to_owned();
                    match k.trim().to_ascii_lowercase().as_str() {
                        "name" => name = Some(v),
                        "filename" => filename = Some(v),
                        _ => {}
                    }
                }
            }
        }
        let name = name.ok_or("multipart part without a name")?;
        match filename {
            Some(filename) => {
                params.files.insert(
                    name,
                    FileParam {
                        filename,
                        size: content.len(),
                    },
                );
            }
            None => {
                params
                    .text
                    .insert(name, String::from_utf8_lossy(content).into_owned());
            }
        }
        pos = content_end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, content_type: Option<&str>, body: &[u8]) -> HttpRequest {
        let mut headers = http::HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
        }
        HttpRequest {
            method: http::Method::POST,
            target: target.into(),
            headers,
            body: bytes::Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn query_and_form_body_merge_body_wins() {
        let r = request(
            "/rest/x?a=1&b=q%20s",
            Some("application/x-www-form-urlencoded;charset=UTF-8"),
            b"a=2&c=%E4%BD%A0+x",
        );
        let p = parse(&r).unwrap();
        assert_eq!(p.get("a"), Some("2"));
        assert_eq!(p.get("b"), Some("q s"));
        assert_eq!(p.get("c"), Some("\u{4f60} x"));
    }

    #[test]
    fn multipart_text_and_file_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"app_key\"\r\n\r\nk1\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--XyZ--\r\n";
        let r = request("/rest/x", Some("multipart/form-data; boundary=XyZ"), body);
        let p = parse(&r).unwrap();
        assert_eq!(p.get("app_key"), Some("k1"));
        assert_eq!(p.get("empty"), Some(""));
        let f = &p.files["image"];
        assert_eq!(f.filename, "a.png");
        assert_eq!(f.size, 8);
        assert!(!p.text.contains_key("image"));
    }

    #[test]
    fn multipart_without_boundary_is_an_error() {
        let r = request("/rest/x", Some("multipart/form-data"), b"x");
        assert!(parse(&r).is_err());
    }

    #[test]
    fn json_body_carries_no_parameters() {
        let r = request("/rest/x?a=1", Some("application/json"), b"{\"b\":2}");
        let p = parse(&r).unwrap();
        assert_eq!(p.text.len(), 1);
    }
}
