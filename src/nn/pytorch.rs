//! Reading a state dict from PyTorch's checkpoint format (what `torch.save` writes since 1.6
//! and `rustorch.save` writes by default): a zip archive, stored without compression,
//! holding `<name>/data.pkl` (a pickle of the containers, each tensor a call to
//! `torch._utils._rebuild_tensor_v2` over a storage named by a persistent id) and each
//! storage's bytes in `<name>/data/<key>`.
//!
//! The pickle runs on a small machine that knows the opcodes of protocols 2–5 that such
//! files use and, as PyTorch's `weights_only=True`, only the globals that rebuild tensors,
//! parameters, storages and ordered dicts: any other global is an error naming it, and
//! nothing the file says is executed. Tensors that share a storage share it here (views are
//! kept, not copied, so memory stays bounded by the file's size). Nested dicts (a checkpoint
//! such as `{"model": model.state_dict(), "epoch": 3}`) give dotted keys (`model.fc.weight`);
//! entries that are not tensors are skipped. Hostile files get an error naming the file and
//! the problem, never a panic: every offset is bounds-checked and nesting is bounded.

use super::safetensors::from_le_bytes;
use super::StateDict;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::rc::Rc;

/// Containers nested deeper than this are refused (PyTorch's own unpickler recurses too).
const MAX_DEPTH: usize = 64;

/// Reads the PyTorch checkpoint at `path` into a state dict (values on the CPU).
pub fn load_pytorch(path: impl AsRef<Path>) -> Result<StateDict> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Runtime(format!("load_pytorch: {}: {e}", path.display())))?;
    parse_pytorch(&bytes, &path.display().to_string())
}

/// Reads a state dict from `path` in either format the Python side saves: PyTorch's zip
/// checkpoint (`rustorch.save(sd, "m.pt")`, `torch.save`) or safetensors.
pub fn load_state_dict(path: impl AsRef<Path>) -> Result<StateDict> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Runtime(format!("load_state_dict: {}: {e}", path.display())))?;
    let name = path.display().to_string();
    if bytes.starts_with(b"PK") {
        parse_pytorch(&bytes, &name)
    } else {
        super::parse_safetensors(&bytes, &name)
    }
}

/// Parses the bytes of a PyTorch zip checkpoint; `name` names it in errors.
pub fn parse_pytorch(bytes: &[u8], name: &str) -> Result<StateDict> {
    let fail = |what: String| Error::Runtime(format!("load_pytorch: {name}: {what}"));
    let entries = zip_entries(bytes).map_err(fail)?;
    let pkl = entries
        .keys()
        .find(|k| k.ends_with("/data.pkl") && k.matches('/').count() == 1)
        .cloned()
        .ok_or_else(|| {
            fail(
                "no <name>/data.pkl: not a PyTorch zip checkpoint (the legacy format of \
                 _use_new_zipfile_serialization=False is read by Python's rustorch.load only)"
                    .into(),
            )
        })?;
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    if let Some(order) = entries.get(&format!("{prefix}byteorder")) {
        if *order != b"little" {
            return Err(fail("big-endian checkpoints are not supported".into()));
        }
    }
    let mut machine = Machine {
        storages: HashMap::new(),
        entries: &entries,
        prefix,
    };
    let value = machine.run(entries[&pkl]).map_err(fail)?;
    let mut tensors = BTreeMap::new();
    // Entries visited and key bytes made: a legitimate pickle spends bytes on each entry and
    // key, while one that shares a dict many times over (or puts a dict in itself, or reuses
    // a long key at every level) could otherwise make the walk endless or its keys huge.
    let mut budget = entries[&pkl]
        .len()
        .saturating_mul(64)
        .saturating_add(1 << 20);
    flatten(&value, "", 0, &mut budget, &mut tensors).map_err(fail)?;
    Ok(StateDict::new(tensors, name))
}

/// The dict's tensors under their keys, nested dicts' with `outer.inner` keys.
fn flatten(
    v: &Value,
    prefix: &str,
    depth: usize,
    budget: &mut usize,
    out: &mut BTreeMap<String, Tensor>,
) -> std::result::Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("dicts nested too deeply".into());
    }
    *budget = budget
        .checked_sub(1 + prefix.len())
        .ok_or("dicts shared or nested more often than the pickle's size allows")?;
    match v {
        Value::Tensor(t) => {
            out.insert(prefix.to_string(), t.clone());
        }
        Value::Dict(d) => {
            for (k, v) in d.borrow().iter() {
                let key = match k {
                    Value::Str(s) => s.to_string(),
                    Value::Int(i) => i.to_string(),
                    _ => String::new(),
                };
                let key = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(v, &key, depth + 1, budget, out)?;
            }
        }
        _ if depth == 0 => return Err("the checkpoint holds no dict of tensors".into()),
        _ => {}
    }
    Ok(())
}

// -- the zip archive ----------------------------------------------------------------------

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?) as u64)
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?) as u64)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn index(v: u64) -> std::result::Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("offset {v} does not fit this machine"))
}

/// The archive's entries (name → its bytes), from its central directory; entries must be
/// stored (uncompressed), as PyTorch writes them. Zip64 records are read.
fn zip_entries(b: &[u8]) -> std::result::Result<BTreeMap<String, &[u8]>, String> {
    const EOCD: u64 = 0x0605_4b50;
    let truncated = || "truncated or not a zip archive (no end of central directory)".to_string();
    // The end record is 22 bytes plus a comment of at most 65535.
    let low = b.len().saturating_sub(22 + 65535);
    let eocd = (low..=b.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(b, i) == Some(EOCD))
        .ok_or_else(truncated)?;
    let field = |at: usize, n: usize| {
        match n {
            2 => u16_at(b, at),
            4 => u32_at(b, at),
            _ => u64_at(b, at),
        }
        .ok_or_else(truncated)
    };
    let (mut count, mut dir) = (field(eocd + 10, 2)?, field(eocd + 16, 4)?);
    if count == 0xffff || dir == 0xffff_ffff {
        // The zip64 end record, found through its locator just before the end record.
        let loc = eocd.checked_sub(20).ok_or_else(truncated)?;
        if u32_at(b, loc) != Some(0x0706_4b50) {
            return Err("zip64 sizes without a zip64 locator".into());
        }
        let rec = index(field(loc + 8, 8)?)?;
        if u32_at(b, rec) != Some(0x0606_4b50) {
            return Err("zip64 locator points to no zip64 record".into());
        }
        count = field(rec + 32, 8)?;
        dir = field(rec + 48, 8)?;
    }
    let mut at = index(dir)?;
    let mut out = BTreeMap::new();
    // Each entry's span (local header to data end): they must not overlap, so that the
    // entries' bytes, copied, never add up to more than the file.
    let mut spans = Vec::new();
    for _ in 0..count {
        if u32_at(b, at) != Some(0x0201_4b50) {
            return Err(format!("central directory entry at {at} is corrupt"));
        }
        let method = field(at + 10, 2)?;
        let (mut csize, mut size) = (field(at + 20, 4)?, field(at + 24, 4)?);
        let (name_len, extra_len, comment_len) = (
            index(field(at + 28, 2)?)?,
            index(field(at + 30, 2)?)?,
            index(field(at + 32, 2)?)?,
        );
        let mut local = field(at + 42, 4)?;
        let name_at = at + 46;
        let name = b
            .get(name_at..name_at + name_len)
            .ok_or_else(truncated)
            .map(|n| String::from_utf8_lossy(n).into_owned())?;
        // Zip64 extended information: the 64-bit values of the fields saturated above.
        let mut x = name_at + name_len;
        let extra_end = x + extra_len;
        while x + 4 <= extra_end {
            let (id, len) = (field(x, 2)?, index(field(x + 2, 2)?)?);
            if id == 1 {
                let mut p = x + 4;
                for v in [&mut size, &mut csize, &mut local] {
                    if *v == 0xffff_ffff && p + 8 <= x + 4 + len {
                        *v = field(p, 8)?;
                        p += 8;
                    }
                }
            }
            x += 4 + len;
        }
        if method != 0 {
            return Err(format!(
                "entry '{name}' is compressed (method {method}); PyTorch stores entries"
            ));
        }
        if csize != size {
            return Err(format!("entry '{name}' has two different sizes"));
        }
        let local = index(local)?;
        if u32_at(b, local) != Some(0x0403_4b50) {
            return Err(format!("entry '{name}' points to no local header"));
        }
        let data = local + 30 + index(field(local + 26, 2)?)? + index(field(local + 28, 2)?)?;
        let end = data
            .checked_add(index(size)?)
            .filter(|&e| e <= b.len())
            .ok_or_else(|| format!("entry '{name}' ({size} bytes) lies past the file's end"))?;
        out.insert(name, &b[data..end]);
        spans.push((local, end));
        at = extra_end + comment_len;
    }
    spans.sort_unstable();
    if spans.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err("entries overlap".into());
    }
    Ok(out)
}

// -- the pickle ---------------------------------------------------------------------------

/// A value on the unpickler's stack. Containers are shared (`Rc`), as the pickle's memo
/// shares them, so a value fetched many times costs nothing.
#[derive(Clone)]
enum Value {
    /// What a state dict holds besides tensors and containers (None, booleans, floats,
    /// bytes): read past, never used.
    Other,
    Int(i64),
    Str(Rc<str>),
    Tuple(Rc<Vec<Value>>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// An allowed global: what it builds when called.
    Global(Global),
    /// A storage's elements (a flat tensor of its dtype).
    Storage(Tensor),
    Tensor(Tensor),
    Mark,
}

impl Drop for Value {
    /// Drops nested containers iteratively: a hostile pickle nests them a million deep at a
    /// byte a level, which a recursive drop would overflow the stack on.
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.release_children(&mut pending);
        while let Some(mut v) = pending.pop() {
            v.release_children(&mut pending);
        }
    }
}

impl Value {
    /// Moves the items of a container this value alone holds into `out`.
    fn release_children(&mut self, out: &mut Vec<Value>) {
        match self {
            Value::Tuple(t) => {
                if let Some(items) = Rc::get_mut(t) {
                    out.append(items);
                }
            }
            Value::List(l) => {
                if let Some(items) = Rc::get_mut(l) {
                    out.append(items.get_mut());
                }
            }
            Value::Dict(d) => {
                if let Some(items) = Rc::get_mut(d) {
                    for (k, v) in items.get_mut().drain(..) {
                        out.push(k);
                        out.push(v);
                    }
                }
            }
            _ => {}
        }
    }
}

#[derive(Clone, Copy)]
enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    StorageType(DType),
}

fn global(module: &str, name: &str) -> std::result::Result<Global, String> {
    let storage = |dtype| Ok(Global::StorageType(dtype));
    match (module, name) {
        ("collections", "OrderedDict") => Ok(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => Ok(Global::RebuildTensor),
        ("torch._utils", "_rebuild_parameter") => Ok(Global::RebuildParameter),
        ("torch", "FloatStorage") => storage(DType::F32),
        ("torch", "DoubleStorage") => storage(DType::F64),
        ("torch", "HalfStorage") => storage(DType::F16),
        ("torch", "BFloat16Storage") => storage(DType::BF16),
        ("torch", "LongStorage") => storage(DType::I64),
        ("torch", "IntStorage") => storage(DType::I32),
        ("torch", "ShortStorage") => storage(DType::I16),
        ("torch", "CharStorage") => storage(DType::I8),
        ("torch", "ByteStorage") => storage(DType::U8),
        ("torch", "BoolStorage") => storage(DType::Bool),
        _ => Err(format!(
            "unsupported global {module}.{name} (the Rust loader rebuilds tensors and \
             containers only, as PyTorch's weights_only=True)"
        )),
    }
}

struct Machine<'a> {
    /// Storages by key: tensors naming one key share it.
    storages: HashMap<String, Tensor>,
    entries: &'a BTreeMap<String, &'a [u8]>,
    prefix: &'a str,
}

impl Machine<'_> {
    fn run(&mut self, code: &[u8]) -> std::result::Result<Value, String> {
        let mut stack: Vec<Value> = Vec::new();
        let mut memo: HashMap<u64, Value> = HashMap::new();
        let mut at = 0usize;
        let take = |at: &mut usize, n: usize| take(code, at, n);
        let uint = |s: &[u8]| s.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64);
        let pop = |stack: &mut Vec<Value>| stack.pop().ok_or("the pickle pops an empty stack");
        // The values above the topmost mark, the mark removed.
        let marked = |stack: &mut Vec<Value>| -> std::result::Result<Vec<Value>, String> {
            let m = stack
                .iter()
                .rposition(|v| matches!(v, Value::Mark))
                .ok_or("the pickle has no mark")?;
            let items = stack.split_off(m + 1);
            stack.pop();
            Ok(items)
        };
        let line = |at: &mut usize| -> std::result::Result<String, String> {
            let rest = code.get(*at..).unwrap_or_default();
            let n = rest
                .iter()
                .position(|&c| c == b'\n')
                .ok_or("the pickle is truncated")?;
            *at += n + 1;
            Ok(String::from_utf8_lossy(&rest[..n]).into_owned())
        };
        let text = |s: &[u8]| {
            std::str::from_utf8(s)
                .map(str::to_string)
                .map_err(|_| "a pickled string is not UTF-8".to_string())
        };
        loop {
            let op = *take(&mut at, 1)?.first().unwrap_or(&b'.');
            match op {
                0x80 => {
                    take(&mut at, 1)?; // PROTO
                }
                0x95 => {
                    take(&mut at, 8)?; // FRAME
                }
                b'.' => return pop(&mut stack).map_err(String::from),
                b'(' => stack.push(Value::Mark),
                b'N' | 0x88 | 0x89 => stack.push(Value::Other),
                b'K' => stack.push(Value::Int(uint(take(&mut at, 1)?) as i64)),
                b'M' => stack.push(Value::Int(uint(take(&mut at, 2)?) as i64)),
                b'J' => {
                    let v = i32::from_le_bytes(take(&mut at, 4)?.try_into().unwrap_or_default());
                    stack.push(Value::Int(v as i64));
                }
                0x8a => {
                    // LONG1: a little-endian two's-complement integer of n bytes.
                    let n = uint(take(&mut at, 1)?) as usize;
                    let s = take(&mut at, n)?;
                    if n > 8 {
                        return Err("an integer of more than 64 bits".into());
                    }
                    let mut v = uint(s) as i64;
                    if n > 0 && n < 8 && s[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    stack.push(Value::Int(v));
                }
                b'G' => {
                    take(&mut at, 8)?;
                    stack.push(Value::Other);
                }
                b'X' | 0x8c | 0x8d => {
                    let width = match op {
                        b'X' => 4,
                        0x8c => 1,
                        _ => 8,
                    };
                    let n = index(uint(take(&mut at, width)?))?;
                    let s = take(&mut at, n)?;
                    stack.push(Value::Str(text(s)?.into()));
                }
                b'B' | b'C' | 0x8e => {
                    let width = match op {
                        b'B' => 4,
                        b'C' => 1,
                        _ => 8,
                    };
                    let n = index(uint(take(&mut at, width)?))?;
                    take(&mut at, n)?;
                    stack.push(Value::Other);
                }
                b')' => stack.push(Value::Tuple(Rc::new(Vec::new()))),
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if stack.len() < n {
                        return Err("the pickle pops an empty stack".into());
                    }
                    let items = stack.split_off(stack.len() - n);
                    stack.push(Value::Tuple(Rc::new(items)));
                }
                b't' => {
                    let items = marked(&mut stack)?;
                    stack.push(Value::Tuple(Rc::new(items)));
                }
                b']' => stack.push(Value::List(Rc::default())),
                b'l' => {
                    let items = marked(&mut stack)?;
                    stack.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b'}' => stack.push(Value::Dict(Rc::default())),
                b'd' => {
                    let items = marked(&mut stack)?;
                    stack.push(Value::Dict(Rc::new(RefCell::new(pairs(items)?))));
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![pop(&mut stack)?]
                    } else {
                        marked(&mut stack)?
                    };
                    match stack.last() {
                        Some(Value::List(l)) => l.borrow_mut().extend(items),
                        _ => return Err("the pickle appends to a non-list".into()),
                    }
                }
                b's' | b'u' => {
                    let items = if op == b's' {
                        let v = pop(&mut stack)?;
                        let k = pop(&mut stack)?;
                        vec![k, v]
                    } else {
                        marked(&mut stack)?
                    };
                    match stack.last() {
                        Some(Value::Dict(d)) => d.borrow_mut().extend(pairs(items)?),
                        _ => return Err("the pickle sets an item of a non-dict".into()),
                    }
                }
                b'q' | b'r' | 0x94 => {
                    let key = match op {
                        b'q' => uint(take(&mut at, 1)?),
                        b'r' => uint(take(&mut at, 4)?),
                        _ => memo.len() as u64,
                    };
                    let top = stack.last().ok_or("the pickle memoizes an empty stack")?;
                    memo.insert(key, top.clone());
                }
                b'h' | b'j' => {
                    let key = uint(take(&mut at, if op == b'h' { 1 } else { 4 })?);
                    let v = memo.get(&key).ok_or(format!("memo {key} is not set"))?;
                    stack.push(v.clone());
                }
                b'c' => {
                    let (module, name) = (line(&mut at)?, line(&mut at)?);
                    stack.push(Value::Global(global(&module, &name)?));
                }
                0x93 => {
                    let name = pop(&mut stack)?;
                    let module = pop(&mut stack)?;
                    let (Value::Str(module), Value::Str(name)) = (&module, &name) else {
                        return Err("STACK_GLOBAL of non-strings".into());
                    };
                    stack.push(Value::Global(global(module, name)?));
                }
                b'Q' => {
                    let pid = pop(&mut stack)?;
                    let storage = self.storage(&pid)?;
                    stack.push(storage);
                }
                b'R' => {
                    let args = pop(&mut stack)?;
                    let f = pop(&mut stack)?;
                    let (Value::Global(f), Value::Tuple(args)) = (&f, &args) else {
                        return Err("REDUCE of something not an allowed global".into());
                    };
                    stack.push(call(*f, args)?);
                }
                b'b' => {
                    // BUILD: an ordered dict's attributes (the state dict's `_metadata`).
                    pop(&mut stack)?;
                    if !matches!(stack.last(), Some(Value::Dict(_) | Value::Tensor(_))) {
                        return Err("BUILD of something not a dict or tensor".into());
                    }
                }
                other => return Err(format!("unsupported pickle opcode 0x{other:02x}")),
            }
        }
    }

    /// The storage a persistent id `('storage', type, key, location, numel)` names, read
    /// once per key from `<prefix>data/<key>`.
    fn storage(&mut self, pid: &Value) -> std::result::Result<Value, String> {
        let Value::Tuple(t) = pid else {
            return Err("a persistent id that is not a tuple".into());
        };
        let [Value::Str(kind), Value::Global(Global::StorageType(dtype)), Value::Str(key), _, Value::Int(numel)] =
            t.as_slice()
        else {
            return Err("a persistent id that is not a storage's".into());
        };
        if &**kind != "storage" {
            return Err(format!("a persistent id of kind '{kind}'"));
        }
        let key: &str = key;
        if let Some(s) = self.storages.get(key) {
            return Ok(Value::Storage(s.clone()));
        }
        let entry = format!("{}data/{key}", self.prefix);
        let raw = self
            .entries
            .get(&entry)
            .ok_or(format!("storage '{key}' has no entry {entry}"))?;
        let numel = usize::try_from(*numel).map_err(|_| format!("storage '{key}' of {numel}"))?;
        let bytes = numel
            .checked_mul(dtype.size())
            .filter(|&n| n <= raw.len())
            .ok_or(format!(
                "storage '{key}' of {numel} {dtype:?} elements does not fit its {} bytes",
                raw.len()
            ))?;
        let s = from_le_bytes(&raw[..bytes], *dtype, &[numel]);
        self.storages.insert(key.to_string(), s.clone());
        Ok(Value::Storage(s))
    }
}

/// The `n` bytes of `code` at `at`, moving `at` past them.
fn take<'c>(code: &'c [u8], at: &mut usize, n: usize) -> std::result::Result<&'c [u8], String> {
    let s = code
        .get(*at..at.saturating_add(n))
        .ok_or("the pickle is truncated")?;
    *at += n;
    Ok(s)
}

/// Key/value pairs from a flat list.
fn pairs(items: Vec<Value>) -> std::result::Result<Vec<(Value, Value)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err("a dict of an odd number of items".into());
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn sizes(v: &Value, what: &str) -> std::result::Result<Vec<i64>, String> {
    match v {
        Value::Tuple(t) => t
            .iter()
            .map(|x| match x {
                Value::Int(i) if *i >= 0 => Ok(*i),
                _ => Err(format!("a tensor's {what} holds something not a size")),
            })
            .collect(),
        _ => Err(format!("a tensor's {what} is not a tuple")),
    }
}

/// Calls an allowed global.
fn call(f: Global, args: &[Value]) -> std::result::Result<Value, String> {
    match f {
        Global::OrderedDict if args.is_empty() => Ok(Value::Dict(Rc::default())),
        Global::RebuildTensor => {
            let [Value::Storage(s), Value::Int(offset), size, stride, ..] = args else {
                return Err("_rebuild_tensor_v2 with arguments of other kinds".into());
            };
            let (size, stride) = (sizes(size, "size")?, sizes(stride, "stride")?);
            if size.len() != stride.len() {
                return Err("a tensor's size and stride differ in length".into());
            }
            let conv = |v: &[i64]| v.iter().map(|&x| x as usize).collect::<Vec<usize>>();
            let strides: Vec<isize> = stride.iter().map(|&x| x as isize).collect();
            let offset = usize::try_from(*offset).map_err(|_| "a negative storage offset")?;
            s.as_strided(&conv(&size), &strides, offset)
                .map(Value::Tensor)
                .map_err(|e| e.to_string())
        }
        Global::RebuildParameter => match args.first() {
            Some(Value::Tensor(t)) => Ok(Value::Tensor(t.clone())),
            _ => Err("_rebuild_parameter of something not a tensor".into()),
        },
        _ => Err("a global called with arguments it does not take".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip archive of stored entries, as PyTorch writes.
    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let (mut out, mut dir) = (Vec::new(), Vec::new());
        for (name, data) in entries {
            let offset = out.len() as u32;
            let head = |sig: u32, central: bool| {
                let mut h = sig.to_le_bytes().to_vec();
                if central {
                    h.extend([20, 0]);
                }
                h.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                h.extend((data.len() as u32).to_le_bytes());
                h.extend((data.len() as u32).to_le_bytes());
                h.extend((name.len() as u16).to_le_bytes());
                h.extend([0, 0]);
                if central {
                    h.extend([0; 10]);
                    h.extend(offset.to_le_bytes());
                }
                h.extend(name.as_bytes());
                h
            };
            out.extend(head(0x0403_4b50, false));
            out.extend(*data);
            dir.extend(head(0x0201_4b50, true));
        }
        let (at, n) = (out.len() as u32, entries.len() as u16);
        out.extend(&dir);
        out.extend(0x0605_4b50u32.to_le_bytes());
        out.extend([0, 0, 0, 0]);
        out.extend(n.to_le_bytes());
        out.extend(n.to_le_bytes());
        out.extend((dir.len() as u32).to_le_bytes());
        out.extend(at.to_le_bytes());
        out.extend([0, 0]);
        out
    }

    /// `{'w': tensor of the 3 floats in storage '0', shape (3,)}` as PyTorch pickles it.
    fn pickle(global: &str) -> Vec<u8> {
        let mut p = b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02((X\x07\x00\x00\x00storageq\x03".to_vec();
        p.extend(format!("c{global}\n").as_bytes());
        p.extend(b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x03tQK\x00K\x03\x85K\x01\x85\x89)tRs.");
        p
    }

    fn floats() -> Vec<u8> {
        [1.5f32, -2.0, 4.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    #[test]
    fn reads_a_hand_written_checkpoint() {
        let file = zip(&[
            ("m/data.pkl", &pickle("torch\nFloatStorage")),
            ("m/byteorder", b"little"),
            ("m/data/0", &floats()),
        ]);
        let sd = parse_pytorch(&file, "m.pt").unwrap();
        let w = sd.get("w").unwrap();
        assert_eq!(w.shape(), &[3]);
        assert_eq!(w.to_vec::<f32>().unwrap(), vec![1.5, -2.0, 4.25]);
    }

    #[test]
    fn hostile_checkpoints_are_errors_naming_the_problem() {
        let err = |file: &[u8]| parse_pytorch(file, "bad.pt").err().unwrap().to_string();
        let good = zip(&[
            ("m/data.pkl", &pickle("torch\nFloatStorage")),
            ("m/data/0", &floats()),
        ]);
        assert!(err(&good[..good.len() - 30]).contains("not a zip"));
        assert!(err(b"PK").contains("not a zip"));
        let os = zip(&[
            ("m/data.pkl", &pickle("os\nsystem")),
            ("m/data/0", &floats()),
        ]);
        assert!(err(&os).contains("unsupported global os.system"));
        let short = zip(&[
            ("m/data.pkl", &pickle("torch\nDoubleStorage")),
            ("m/data/0", &floats()),
        ]);
        assert!(err(&short).contains("does not fit its 12 bytes"));
        let none = zip(&[("m/data.pkl", &pickle("torch\nFloatStorage"))]);
        assert!(err(&none).contains("has no entry m/data/0"));
        let mut p = pickle("torch\nFloatStorage");
        let n = p.len();
        p.truncate(n - 12);
        let cut = zip(&[("m/data.pkl", &p), ("m/data/0", &floats())]);
        assert!(err(&cut).contains("truncated"), "{}", err(&cut));
        let op = zip(&[("m/data.pkl", b"\x80\x02\xff."), ("m/data/0", &floats())]);
        assert!(err(&op).contains("opcode 0xff"));
        // A size past the storage: as_strided's bounds check.
        let mut p = pickle("torch\nFloatStorage");
        let at = p.windows(3).position(|w| w == b"K\x03\x85").unwrap();
        p[at + 1] = 9;
        let past = zip(&[("m/data.pkl", &p), ("m/data/0", &floats())]);
        assert!(err(&past).contains("out of bounds"), "{}", err(&past));
        assert!(err(&zip(&[("x.txt", b"hi")])).contains("no <name>/data.pkl"));
        // Sizes whose product overflows, with zero strides that keep every element in range.
        let mut p = pickle("torch\nFloatStorage");
        let at = p.windows(5).position(|w| w == b"K\x03\x85K\x01").unwrap();
        let huge = b"\x8a\x05\x00\x00\x00\x00\x01\x8a\x05\x00\x00\x00\x00\x01\x86K\x00K\x00\x86";
        p.splice(at..at + 6, huge.iter().copied());
        let overflow = zip(&[("m/data.pkl", &p), ("m/data/0", &floats())]);
        assert!(err(&overflow).contains("overflow"), "{}", err(&overflow));
        // Two entries sharing their bytes.
        let mut shared = zip(&[
            ("m/data.pkl", &pickle("torch\nFloatStorage")),
            ("m/data/0", &floats()),
        ]);
        let first = shared
            .windows(4)
            .rposition(|w| w == [0x50, 0x4b, 0x01, 0x02])
            .unwrap();
        shared[first + 42..first + 46].copy_from_slice(&0u32.to_le_bytes());
        assert!(err(&shared).contains("overlap"), "{}", err(&shared));
        // Tuples nested a million deep: dropped without recursion.
        let mut p = b"\x80\x02K\x00".to_vec();
        p.extend(std::iter::repeat_n(0x85u8, 1_000_000));
        p.push(b'.');
        assert!(err(&zip(&[("m/data.pkl", &p)])).contains("no dict of tensors"));
        // Deep nesting: a dict in a dict, 100 deep.
        let mut p = b"\x80\x02".to_vec();
        for _ in 0..100 {
            p.extend(b"}X\x01\x00\x00\x00k");
        }
        p.extend(b"N");
        p.extend(std::iter::repeat_n(b's', 100));
        p.push(b'.');
        let deep = zip(&[("m/data.pkl", &p)]);
        assert!(err(&deep).contains("nested too deeply"));
        // 40 dicts, each holding the next twice: 2^40 paths to walk unless bounded.
        let mut p = b"\x80\x02}q\x28".to_vec();
        for i in (0u8..40).rev() {
            p.extend([b'}', b'q', i, b'(']);
            p.extend(b"X\x01\x00\x00\x00ah");
            p.push(i + 1);
            p.extend(b"X\x01\x00\x00\x00bh");
            p.extend([i + 1, b'u']);
        }
        p.push(b'.');
        let shared = zip(&[("m/data.pkl", &p)]);
        assert!(err(&shared).contains("more often than the pickle's size allows"));
    }
}
