//! Just enough of Kubernetes' protobuf encoding to read the ConfigMaps kubectl's imperative
//! commands send (`kubectl create configmap ...` posts `application/vnd.kubernetes.protobuf`).
//!
//! Envelope: the magic `k8s\0`, then a `runtime.Unknown` {1: TypeMeta {1: apiVersion,
//! 2: kind}, 2: raw object bytes}. A ConfigMap is {1: ObjectMeta, 2: data map, 3: binaryData
//! map, 4: immutable}; ObjectMeta {1: name, 2: generateName, 3: namespace, 6: resourceVersion,
//! 11: labels, 12: annotations, 14: finalizers}. Other fields are rejected rather than dropped.

use serde_json::{Map, Value, json};

/// The protobuf media type.
pub(crate) const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// One decoded field.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at).ok_or("truncated varint")?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

fn fields(bytes: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let key = varint(bytes, &mut at)?;
        let (number, wire) = (key >> 3, key & 7);
        let field = match wire {
            0 => Field::Varint(varint(bytes, &mut at)?),
            2 => {
                let len =
                    usize::try_from(varint(bytes, &mut at)?).map_err(|_| "length overflow")?;
                let end = at
                    .checked_add(len)
                    .filter(|e| *e <= bytes.len())
                    .ok_or("truncated field")?;
                let slice = &bytes[at..end];
                at = end;
                Field::Bytes(slice)
            }
            other => return Err(format!("unsupported wire type {other} for field {number}")),
        };
        out.push((number, field));
    }
    Ok(out)
}

fn text(field: &Field<'_>) -> Result<String, String> {
    match field {
        Field::Bytes(b) => {
            String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 string".to_owned())
        }
        Field::Varint(_) => Err("expected a string".into()),
    }
}

fn bytes<'a>(field: &Field<'a>) -> Result<&'a [u8], String> {
    match field {
        Field::Bytes(b) => Ok(b),
        Field::Varint(_) => Err("expected a message".into()),
    }
}

/// A map<string,string> entry into `map`.
fn map_entry(field: &Field<'_>, map: &mut Map<String, Value>) -> Result<(), String> {
    let (mut key, mut value) = (String::new(), String::new());
    for (number, f) in fields(bytes(field)?)? {
        match number {
            1 => key = text(&f)?,
            2 => value = text(&f)?,
            _ => return Err("unexpected map entry field".into()),
        }
    }
    map.insert(key, json!(value));
    Ok(())
}

fn object_meta(raw: &[u8]) -> Result<Value, String> {
    let mut meta = Map::new();
    let (mut labels, mut annotations, mut finalizers) = (Map::new(), Map::new(), Vec::new());
    for (number, field) in fields(raw)? {
        match number {
            // Go's encoder writes empty strings too; JSON clients omit them.
            1 | 2 | 3 | 6 => {
                let value = text(&field)?;
                let key = match number {
                    1 => "name",
                    2 => "generateName",
                    3 => "namespace",
                    _ => "resourceVersion",
                };
                (!value.is_empty()).then(|| meta.insert(key.into(), json!(value)))
            }
            11 => map_entry(&field, &mut labels).map(|()| None)?,
            12 => map_entry(&field, &mut annotations).map(|()| None)?,
            14 => {
                finalizers.push(json!(text(&field)?));
                None
            }
            // selfLink, uid, generation and timestamps are server-set; ignore what a client sent.
            4 | 5 | 7 | 8 | 9 | 10 => None,
            other => return Err(format!("unsupported ObjectMeta field {other}")),
        };
    }
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(meta))
}

/// Decode a protobuf-encoded ConfigMap into its JSON form.
pub(crate) fn decode_config_map(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("missing the k8s protobuf magic prefix")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    for (number, field) in fields(envelope)? {
        match number {
            1 => {
                for (n, f) in fields(bytes(&field)?)? {
                    match n {
                        1 => api_version = text(&f)?,
                        2 => kind = text(&f)?,
                        _ => {}
                    }
                }
            }
            2 => raw = Some(bytes(&field)?),
            _ => {}
        }
    }
    if kind != "ConfigMap" {
        return Err(format!(
            "protobuf bodies are only understood for ConfigMaps, not {kind:?}"
        ));
    }
    let mut object = Map::new();
    object.insert("apiVersion".into(), json!(api_version));
    object.insert("kind".into(), json!(kind));
    let mut data = Map::new();
    for (number, field) in fields(raw.unwrap_or_default())? {
        match number {
            1 => {
                object.insert("metadata".into(), object_meta(bytes(&field)?)?);
            }
            2 => map_entry(&field, &mut data)?,
            3 => return Err("binaryData in protobuf bodies is not supported".into()),
            4 => {
                if let Field::Varint(v) = field {
                    object.insert("immutable".into(), json!(v != 0));
                }
            }
            other => return Err(format!("unsupported ConfigMap field {other}")),
        }
    }
    if !data.is_empty() {
        object.insert("data".into(), Value::Object(data));
    }
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
    }

    fn entry(key: &str, value: &str) -> Vec<u8> {
        [field(1, key.as_bytes()), field(2, value.as_bytes())].concat()
    }

    #[test]
    fn decodes_a_config_map_as_kubectl_sends_it() {
        let meta = [field(1, b"x"), field(2, b""), field(11, &entry("a", "b"))].concat();
        let raw = [
            field(1, &meta),
            field(2, &entry("k", "v")),
            field(2, &entry("k2", "v2")),
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [
            MAGIC.to_vec(),
            field(1, &type_meta),
            field(2, &raw),
            field(4, b"application/vnd.kubernetes.protobuf"),
        ]
        .concat();
        let object = decode_config_map(&body).unwrap();
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "b"}}, "data": {"k": "v", "k2": "v2"}})
        );
    }

    #[test]
    fn rejects_other_kinds_and_garbage() {
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta)].concat();
        assert!(decode_config_map(&body).unwrap_err().contains("Secret"));
        assert!(decode_config_map(b"{}").is_err());
        assert!(decode_config_map(&[MAGIC, &[0x0a, 0x05]].concat()).is_err());
    }
}
