//! Reading a state dict from a safetensors file (what `rustorch.utils.safetensors.save_file`
//! and `rustorch.save(..., "x.safetensors")` write, and the `safetensors` package's format):
//! an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape
//! and byte range, then the data.
//!
//! Hostile files get an error naming the file and the problem, never a panic: the header's
//! length is bounded by the file's, every byte range must lie in the data and match its
//! dtype and shape, and sizes are computed with overflow checks.

use super::StateDict;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::path::Path;

/// The largest header a reader accepts (the `safetensors` package's own bound).
const MAX_HEADER: usize = 100 << 20;

/// Reads the safetensors file at `path` into a state dict (keys as saved, values on the CPU).
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<StateDict> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Runtime(format!("load_safetensors: {}: {e}", path.display())))?;
    parse_safetensors(&bytes, &path.display().to_string())
}

/// Parses the bytes of a safetensors file; `name` names it in errors.
pub fn parse_safetensors(bytes: &[u8], name: &str) -> Result<StateDict> {
    let fail = |what: String| Error::Runtime(format!("load_safetensors: {name}: {what}"));
    let len: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| fail("truncated: no header length".into()))?;
    let header_len = u64::from_le_bytes(len);
    let body = &bytes[8..];
    let header_len = usize::try_from(header_len)
        .ok()
        .filter(|&n| n <= body.len() && n <= MAX_HEADER)
        .ok_or_else(|| {
            fail(format!(
                "header of {header_len} bytes does not fit the file's {} bytes",
                bytes.len()
            ))
        })?;
    let header = std::str::from_utf8(&body[..header_len])
        .map_err(|_| fail("the header is not UTF-8".into()))?;
    let data = &body[header_len..];
    let entries = match Json::parse(header).map_err(|e| fail(format!("bad header: {e}")))? {
        Json::Object(m) => m,
        _ => return Err(fail("the header is not a JSON object".into())),
    };
    let mut tensors = BTreeMap::new();
    for (key, entry) in entries {
        if key == "__metadata__" {
            continue;
        }
        let t = tensor(&entry, data).map_err(|e| fail(format!("tensor '{key}': {e}")))?;
        tensors.insert(key, t);
    }
    Ok(StateDict::new(tensors, name))
}

/// One header entry's tensor, its bytes read from `data`.
fn tensor(entry: &Json, data: &[u8]) -> std::result::Result<Tensor, String> {
    let Json::Object(m) = entry else {
        return Err("its entry is not an object".into());
    };
    let field = |k: &str| m.get(k).ok_or_else(|| format!("no '{k}'"));
    let Json::String(dtype) = field("dtype")? else {
        return Err("'dtype' is not a string".into());
    };
    let dtype = match dtype.as_str() {
        "BOOL" => DType::Bool,
        "U8" => DType::U8,
        "I8" => DType::I8,
        "I16" => DType::I16,
        "I32" => DType::I32,
        "I64" => DType::I64,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F32" => DType::F32,
        "F64" => DType::F64,
        other => return Err(format!("unsupported dtype {other}")),
    };
    let shape = field("shape")?
        .usizes()
        .ok_or("'shape' is not a list of sizes")?;
    let offsets = field("data_offsets")?
        .usizes()
        .filter(|o| o.len() == 2 && o[0] <= o[1])
        .ok_or("'data_offsets' is not [begin, end]")?;
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("its shape's size overflows")?;
    let want = numel
        .checked_mul(dtype.size())
        .ok_or("its byte size overflows")?;
    if offsets[1] - offsets[0] != want {
        return Err(format!(
            "shape {shape:?} of {dtype:?} needs {want} bytes, its range holds {}",
            offsets[1] - offsets[0]
        ));
    }
    let raw = data.get(offsets[0]..offsets[1]).ok_or(format!(
        "bytes {}..{} lie past the data's {} bytes",
        offsets[0],
        offsets[1],
        data.len()
    ))?;
    Ok(from_le_bytes(raw, dtype, &shape))
}

/// A tensor of `dtype` and `shape` from its little-endian bytes (`raw.len()` checked).
pub(super) fn from_le_bytes(raw: &[u8], dtype: DType, shape: &[usize]) -> Tensor {
    macro_rules! read {
        ($t:ty, $n:literal) => {
            Tensor::from_vec(
                raw.chunks_exact($n)
                    .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunks of the size")))
                    .collect::<Vec<$t>>(),
                shape,
            )
        };
    }
    match dtype {
        DType::Bool => Tensor::from_vec(raw.iter().map(|&b| b != 0).collect(), shape),
        DType::U8 => Tensor::from_vec(raw.to_vec(), shape),
        DType::I8 => read!(i8, 1),
        DType::I16 => read!(i16, 2),
        DType::I32 => read!(i32, 4),
        DType::I64 => read!(i64, 8),
        DType::F16 => read!(half::f16, 2),
        DType::BF16 => read!(half::bf16, 2),
        DType::F32 => read!(f32, 4),
        DType::F64 => read!(f64, 8),
    }
}

/// The JSON a safetensors header holds: objects, arrays, strings and numbers (integers
/// kept exactly), and the literals.
#[derive(Debug)]
enum Json {
    Object(BTreeMap<String, Json>),
    Array(Vec<Json>),
    String(String),
    Int(u64),
    Other,
}

impl Json {
    fn parse(s: &str) -> std::result::Result<Json, String> {
        let mut p = Parser {
            s: s.as_bytes(),
            at: 0,
            depth: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.at != p.s.len() {
            return Err(format!("trailing bytes at {}", p.at));
        }
        Ok(v)
    }

    /// A list of non-negative integers that fit `usize`.
    fn usizes(&self) -> Option<Vec<usize>> {
        let Json::Array(a) = self else { return None };
        a.iter()
            .map(|v| match v {
                Json::Int(i) => usize::try_from(*i).ok(),
                _ => None,
            })
            .collect()
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.at).is_some_and(|c| c.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        self.ws();
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at {}", c as char, self.at))
        }
    }

    fn value(&mut self) -> std::result::Result<Json, String> {
        self.ws();
        // Nesting is bounded so that a hostile header cannot exhaust the stack.
        if self.depth > 64 {
            return Err("nested too deeply".into());
        }
        match self.s.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                self.depth += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.s.get(self.at) == Some(&b'}') {
                    self.at += 1;
                } else {
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.expect(b':')?;
                        let v = self.value()?;
                        if m.insert(k.clone(), v).is_some() {
                            return Err(format!("key '{k}' appears twice"));
                        }
                        self.ws();
                        match self.s.get(self.at) {
                            Some(b',') => self.at += 1,
                            Some(b'}') => {
                                self.at += 1;
                                break;
                            }
                            _ => return Err(format!("expected ',' or '}}' at {}", self.at)),
                        }
                    }
                }
                self.depth -= 1;
                Ok(Json::Object(m))
            }
            Some(b'[') => {
                self.at += 1;
                self.depth += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s.get(self.at) == Some(&b']') {
                    self.at += 1;
                } else {
                    loop {
                        a.push(self.value()?);
                        self.ws();
                        match self.s.get(self.at) {
                            Some(b',') => self.at += 1,
                            Some(b']') => {
                                self.at += 1;
                                break;
                            }
                            _ => return Err(format!("expected ',' or ']' at {}", self.at)),
                        }
                    }
                }
                self.depth -= 1;
                Ok(Json::Array(a))
            }
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(c) if c.is_ascii_digit() || *c == b'-' => self.number(),
            Some(_) => {
                for lit in ["true", "false", "null"] {
                    if self.s[self.at..].starts_with(lit.as_bytes()) {
                        self.at += lit.len();
                        return Ok(Json::Other);
                    }
                }
                Err(format!("unexpected byte at {}", self.at))
            }
            None => Err("unexpected end".into()),
        }
    }

    fn number(&mut self) -> std::result::Result<Json, String> {
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
        {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).map_err(|e| e.to_string())?;
        if let Ok(i) = text.parse::<u64>() {
            return Ok(Json::Int(i));
        }
        text.parse::<f64>()
            .map(|_| Json::Other)
            .map_err(|_| format!("bad number '{text}' at {start}"))
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let rest = &self.s[self.at..];
            let stop = rest
                .iter()
                .position(|&c| c == b'"' || c == b'\\')
                .ok_or("unterminated string")?;
            out.push_str(std::str::from_utf8(&rest[..stop]).map_err(|e| e.to_string())?);
            self.at += stop + 1;
            if rest[stop] == b'"' {
                return Ok(out);
            }
            let esc = *self.s.get(self.at).ok_or("unterminated string")?;
            self.at += 1;
            out.push(match esc {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hex = self
                        .s
                        .get(self.at..self.at + 4)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .ok_or("bad \\u escape")?;
                    self.at += 4;
                    // Surrogate pairs (keys outside the BMP) become U+FFFD: names only.
                    char::from_u32(hex).unwrap_or('\u{fffd}')
                }
                _ => return Err(format!("bad escape at {}", self.at - 1)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file of `header` followed by `data`.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn reads_tensors_of_each_dtype_and_skips_metadata() {
        let data: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .chain(7i64.to_le_bytes())
            .chain([1u8, 0])
            .collect();
        let h = r#"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},
                   "n":{"dtype":"I64","shape":[],"data_offsets":[8,16]},"b":{"dtype":"BOOL","shape":[2],"data_offsets":[16,18]}}"#;
        let sd = parse_safetensors(&file(h, &data), "t").unwrap();
        assert_eq!(sd.keys().collect::<Vec<_>>(), ["b", "n", "w"]);
        let w = sd.get("w").unwrap();
        assert_eq!(w.shape(), &[2, 1]);
        assert_eq!(w.to_vec::<f32>().unwrap(), [1.5, -2.0]);
        assert_eq!(sd.get("n").unwrap().to_vec::<i64>().unwrap(), [7]);
        assert_eq!(
            sd.get("b").unwrap().to_vec::<bool>().unwrap(),
            [true, false]
        );
    }

    #[test]
    fn hostile_files_are_errors_naming_the_problem() {
        let ok = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![1, 2, 3], "truncated"),
            (u64::MAX.to_le_bytes().to_vec(), "does not fit"),
            (file(ok, &[0; 4]), "past the data"),
            (
                file(
                    r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                    &[0; 8],
                ),
                "needs 12 bytes",
            ),
            (
                file(
                    r#"{"w":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,8]}}"#,
                    &[0; 8],
                ),
                "overflows",
            ),
            (
                file(
                    r#"{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#,
                    &[0; 8],
                ),
                "unsupported dtype",
            ),
            (file(r#"{"w":{"dtype":"F32""#, &[]), "bad header"),
            (file(&"[".repeat(1000), &[]), "nested too deeply"),
            (file("[1, 2]", &[]), "not a JSON object"),
            (
                file(
                    r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                    &[0; 4],
                ),
                "appears twice",
            ),
        ];
        for (bytes, want) in cases {
            let err = parse_safetensors(&bytes, "bad.safetensors")
                .err()
                .unwrap_or_else(|| panic!("no error for a file that should fail with {want}"));
            let msg = err.to_string();
            assert!(
                msg.contains("bad.safetensors") && msg.contains(want),
                "{msg} (wanted {want})"
            );
        }
    }
}
