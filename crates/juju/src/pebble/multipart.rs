//! `multipart/form-data` as Pebble's files API uses it (spec/juju-runtime.md §3.3): a push sends
//! a `request` part and one `files` part per file; a pull answers with `files` parts and a
//! `response` part. Shared by the client and the harness's fake Pebble.

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Part {
    /// The form field name (`request`, `files`, `response`).
    pub name: String,
    /// The `filename` of a file part (Pebble puts the container path there).
    pub filename: Option<String>,
    /// The part's `Content-Type`.
    pub content_type: Option<String>,
    /// The raw content.
    pub content: Vec<u8>,
}

impl Part {
    /// A JSON part named `name`.
    pub fn json(name: &str, json: &str) -> Part {
        Part {
            name: name.to_owned(),
            filename: None,
            content_type: Some("application/json".to_owned()),
            content: json.as_bytes().to_vec(),
        }
    }

    /// A file part (`name="files"`) for `path`.
    pub fn file(path: &str, content: Vec<u8>) -> Part {
        Part {
            name: "files".to_owned(),
            filename: Some(path.to_owned()),
            content_type: Some("application/octet-stream".to_owned()),
            content,
        }
    }
}

/// Why a multipart body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The content type names no boundary.
    #[error("multipart content type without boundary: {0:?}")]
    NoBoundary(String),
}

/// The boundary named by a `multipart/...; boundary=...` content type.
pub fn boundary_of(content_type: &str) -> Result<String, Error> {
    content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or_else(|| Error::NoBoundary(content_type.to_owned()))
}

/// A boundary that occurs in none of `contents`.
pub fn boundary_for(contents: &[&[u8]]) -> String {
    let mut n = 0u32;
    loop {
        let candidate = format!("juju-rs-boundary-{n:08x}");
        if !contents.iter().any(|content| {
            content
                .windows(candidate.len())
                .any(|w| w == candidate.as_bytes())
        }) {
            return candidate;
        }
        n += 1;
    }
}

/// Encodes `parts` with `boundary` (CRLF line ends, closing delimiter).
pub fn encode(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let size: usize = parts.iter().map(|p| p.content.len() + 256).sum();
    let mut body = Vec::with_capacity(size);
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        if let Some(content_type) = &part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = &part.filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(&part.content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

/// The parts of a multipart `body` whose content type is `content_type`.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Part>, Error> {
    let boundary = boundary_of(content_type)?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut pieces = split_bytes(body, delimiter.as_bytes());
    pieces.next();
    for piece in pieces {
        if piece.starts_with(b"--") {
            break;
        }
        let piece = piece.strip_prefix(b"\r\n").unwrap_or(piece);
        let Some(split) = piece.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let mut part = Part::default();
        for line in String::from_utf8_lossy(&piece[..split]).split("\r\n") {
            let Some((header, value)) = line.split_once(':') else {
                continue;
            };
            match header.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    part.name = parameter(value, "name").unwrap_or_default();
                    part.filename = parameter(value, "filename");
                }
                "content-type" => part.content_type = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let content = &piece[split + 4..];
        part.content = content.strip_suffix(b"\r\n").unwrap_or(content).to_vec();
        parts.push(part);
    }
    Ok(parts)
}

/// The parameter `key="..."` (or unquoted `key=...`) of a header value; `;` inside quotes
/// belongs to the value.
fn parameter(value: &str, key: &str) -> Option<String> {
    let mut params = Vec::new();
    let (mut current, mut quoted) = (String::new(), false);
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => params.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    params.push(current);
    params.iter().find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn split_bytes<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(haystack);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.windows(needle.len()).position(|w| w == needle) {
            Some(i) => {
                rest = Some(&current[i + needle.len()..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_parts_parse_back_with_names_filenames_and_binary_content() {
        let parts = vec![
            Part::json("request", r#"{"action":"write"}"#),
            Part::file("/etc/a; b.conf", vec![0, 159, 146, 150, b'\r', b'\n']),
        ];
        let boundary = boundary_for(
            &parts
                .iter()
                .map(|p| p.content.as_slice())
                .collect::<Vec<_>>(),
        );
        let body = encode(&boundary, &parts);
        let content_type = format!("multipart/form-data; boundary=\"{boundary}\"");
        assert_eq!(parse(&content_type, &body).unwrap(), parts);
    }

    #[test]
    fn the_boundary_avoids_the_content() {
        let content = b"--juju-rs-boundary-00000000".as_slice();
        assert_eq!(boundary_for(&[content]), "juju-rs-boundary-00000001");
        assert_eq!(
            parse("multipart/form-data", b""),
            Err(Error::NoBoundary("multipart/form-data".into()))
        );
    }
}
