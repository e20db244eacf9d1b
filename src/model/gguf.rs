//! A bounds-checked reader for the GGUF header: metadata keys and tensor descriptors.
//!
//! llama.cpp's own loader aborts the process on some malformed files, so every file is read
//! and validated here first. Tensor data is never read: only the descriptors are checked
//! against the file's size. Large arrays (vocabularies, merges) are validated and skipped;
//! only short arrays are kept, which is all that model inspection needs.
//!
//! The first shard of a split GGUF (`name-00001-of-0000N.gguf`, as `llama-gguf-split` writes
//! it and llama.cpp loads it) is read with its other shards, found beside it: the header then
//! lists every shard's tensors.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

const GGUF_MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Arrays longer than this are validated but their elements are not kept.
const KEPT_ARRAY_LEN: u64 = 64;
/// No sane metadata string is longer than this (chat templates are a few KiB).
const MAX_STRING_LEN: u64 = 64 << 20;
const MAX_DIMS: u32 = 4;

/// Why a file could not be read as GGUF.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a GGUF file (the first bytes are not \"GGUF\")")]
    NotGguf,
    #[error("unsupported GGUF version {0}")]
    UnsupportedVersion(u32),
    #[error("corrupt GGUF header: {0}")]
    Corrupt(String),
}

fn corrupt(msg: impl Into<String>) -> GgufError {
    GgufError::Corrupt(msg.into())
}

/// One metadata value. Arrays longer than [`KEPT_ARRAY_LEN`] keep only their length.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    Int(i128),
    Float(f64),
    Bool(bool),
    String(String),
    Array(Vec<GgufValue>),
    LongArray { len: u64 },
}

impl GgufValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            GgufValue::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            GgufValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_string_array(&self) -> Option<Vec<String>> {
        match self {
            GgufValue::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => None,
        }
    }
}

/// A tensor descriptor from the header.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufTensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    /// Offset relative to the start of the data section.
    pub offset: u64,
    /// The shard of a split GGUF that holds the tensor: 0 for the file read, `i` for
    /// [`GgufHeader::shards`]`[i - 1]`.
    pub shard: usize,
}

/// A further shard of a split GGUF.
#[derive(Debug, Clone)]
pub struct GgufShard {
    pub path: PathBuf,
    pub data_start: u64,
}

/// The parsed header of a GGUF file.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: BTreeMap<String, GgufValue>,
    pub tensors: Vec<GgufTensor>,
    /// The size of the file, or of every shard together for a split GGUF.
    pub file_size: u64,
    /// Where tensor data starts in the file (tensor offsets are relative to it).
    pub data_start: u64,
    /// The other shards of a split GGUF (empty for a whole file).
    pub shards: Vec<GgufShard>,
}

impl GgufHeader {
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(GgufValue::as_str)
    }
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(GgufValue::as_u64)
    }
    pub fn has_tensor(&self, name: &str) -> bool {
        self.tensors.iter().any(|t| t.name == name)
    }
    pub fn tensor(&self, name: &str) -> Option<&GgufTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of rows `rows` of a 2-D tensor (rows along its second dimension; a 1-D
    /// tensor is one row), or `Ok(None)` when the tensor's type has no fixed row size here or a
    /// row is out of range.
    pub fn read_rows(
        &self,
        path: &Path,
        tensor: &GgufTensor,
        rows: &[u64],
    ) -> std::io::Result<Option<Vec<Vec<u8>>>> {
        use std::io::SeekFrom;
        let (row_len, n_rows) = match tensor.dims[..] {
            [row_len] => (row_len, 1),
            [row_len, n_rows] => (row_len, n_rows),
            _ => return Ok(None),
        };
        let Some(row_bytes) = tensor_bytes(tensor.ggml_type, row_len, row_len) else {
            return Ok(None);
        };
        if row_bytes == u64::MAX || rows.iter().any(|&r| r >= n_rows) {
            return Ok(None);
        }
        let (path, data_start) = match tensor.shard.checked_sub(1) {
            None => (path, self.data_start),
            Some(i) => match self.shards.get(i) {
                Some(shard) => (shard.path.as_path(), shard.data_start),
                None => return Ok(None),
            },
        };
        let mut file = File::open(path)?;
        let mut out = Vec::with_capacity(rows.len());
        for &r in rows {
            // The header check bounded the tensor's end by the file size.
            let start = data_start + tensor.offset + r * row_bytes;
            file.seek(SeekFrom::Start(start))?;
            let mut row = vec![0u8; row_bytes as usize];
            file.read_exact(&mut row)?;
            out.push(row);
        }
        Ok(Some(out))
    }

    /// Reads and validates the header of the file at `path`, and of the other shards when it is
    /// the first shard of a split GGUF.
    pub fn read(path: &Path) -> Result<Self, GgufError> {
        let mut header = Self::read_one(path)?;
        let split = |key: &str| header.get_u64(key);
        let (Some(no), Some(count)) = (split("split.no"), split("split.count")) else {
            return Ok(header);
        };
        if count <= 1 {
            return Ok(header);
        }
        if no != 0 {
            return Err(corrupt(format!(
                "this is shard {} of {count} of a split GGUF; load the first one (…-00001-of-{count:05}.gguf)",
                no + 1
            )));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let suffix = format!("-00001-of-{count:05}.gguf");
        let Some(prefix) = name.strip_suffix(&suffix) else {
            return Err(corrupt(format!(
                "the first shard of a split GGUF of {count} must be named <name>{suffix}, as llama.cpp finds the others by name"
            )));
        };
        for i in 1..count {
            let shard_path =
                path.with_file_name(format!("{prefix}-{:05}-of-{count:05}.gguf", i + 1));
            let shard = Self::read_one(&shard_path).map_err(|e| match e {
                GgufError::Io(io) => GgufError::Io(std::io::Error::new(
                    io.kind(),
                    format!(
                        "shard {} of {count} of the split GGUF, {}: {io}",
                        i + 1,
                        shard_path.display()
                    ),
                )),
                other => other,
            })?;
            if shard.get_u64("split.no") != Some(i) {
                return Err(corrupt(format!(
                    "{} is not shard {} of the split GGUF",
                    shard_path.display(),
                    i + 1
                )));
            }
            header.file_size += shard.file_size;
            header.shards.push(GgufShard {
                path: shard_path,
                data_start: shard.data_start,
            });
            let index = header.shards.len();
            header.tensors.extend(
                shard
                    .tensors
                    .into_iter()
                    .map(|t| GgufTensor { shard: index, ..t }),
            );
        }
        Ok(header)
    }

    fn read_one(path: &Path) -> Result<Self, GgufError> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(GgufError::Io(std::io::Error::other("is a directory")));
        }
        let file_size = meta.len();
        let mut reader = HeaderReader {
            inner: BufReader::with_capacity(1 << 16, file),
            pos: 0,
            file_size,
        };
        reader.parse()
    }
}

struct HeaderReader<R> {
    inner: R,
    pos: u64,
    file_size: u64,
}

impl<R: Read + Seek> HeaderReader<R> {
    fn remaining(&self) -> u64 {
        self.file_size.saturating_sub(self.pos)
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        if self.remaining() < N as u64 {
            return Err(corrupt(format!(
                "the header ends early at byte {}",
                self.pos
            )));
        }
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf)?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    fn skip(&mut self, n: u64) -> Result<(), GgufError> {
        if self.remaining() < n {
            return Err(corrupt(format!(
                "the header ends early at byte {}",
                self.pos
            )));
        }
        self.inner.seek_relative(n as i64)?;
        self.pos += n;
        Ok(())
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let len = self.u64()?;
        if len > MAX_STRING_LEN || len > self.remaining() {
            return Err(corrupt(format!(
                "a string of {len} bytes at byte {}",
                self.pos
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf)?;
        self.pos += len;
        String::from_utf8(buf).map_err(|_| {
            corrupt(format!(
                "a string that is not UTF-8 before byte {}",
                self.pos
            ))
        })
    }

    fn skip_string(&mut self) -> Result<(), GgufError> {
        let len = self.u64()?;
        if len > MAX_STRING_LEN {
            return Err(corrupt(format!(
                "a string of {len} bytes at byte {}",
                self.pos
            )));
        }
        self.skip(len)
    }

    fn scalar_size(value_type: u32) -> Option<u64> {
        match value_type {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        }
    }

    fn value(&mut self, value_type: u32, depth: u32) -> Result<GgufValue, GgufError> {
        Ok(match value_type {
            0 => GgufValue::Int(self.bytes::<1>()?[0] as i128),
            1 => GgufValue::Int(self.bytes::<1>()?[0] as i8 as i128),
            2 => GgufValue::Int(u16::from_le_bytes(self.bytes()?) as i128),
            3 => GgufValue::Int(i16::from_le_bytes(self.bytes()?) as i128),
            4 => GgufValue::Int(self.u32()? as i128),
            5 => GgufValue::Int(i32::from_le_bytes(self.bytes()?) as i128),
            6 => GgufValue::Float(f32::from_le_bytes(self.bytes()?) as f64),
            7 => match self.bytes::<1>()?[0] {
                0 => GgufValue::Bool(false),
                1 => GgufValue::Bool(true),
                b => return Err(corrupt(format!("a boolean with value {b}"))),
            },
            8 => GgufValue::String(self.string()?),
            9 => {
                if depth > 0 {
                    return Err(corrupt("nested arrays"));
                }
                let item_type = self.u32()?;
                let len = self.u64()?;
                if let Some(size) = Self::scalar_size(item_type) {
                    let total = len
                        .checked_mul(size)
                        .ok_or_else(|| corrupt(format!("an array of {len} items")))?;
                    if total > self.remaining() {
                        return Err(corrupt(format!(
                            "an array of {len} items past the end of the file"
                        )));
                    }
                }
                // Every element takes at least one byte: a cheap bound before looping.
                if len > self.remaining() {
                    return Err(corrupt(format!(
                        "an array of {len} items past the end of the file"
                    )));
                }
                if len <= KEPT_ARRAY_LEN {
                    let mut items = Vec::with_capacity(len as usize);
                    for _ in 0..len {
                        items.push(self.value(item_type, depth + 1)?);
                    }
                    GgufValue::Array(items)
                } else {
                    match (item_type, Self::scalar_size(item_type)) {
                        (_, Some(size)) => self.skip(len * size)?,
                        (8, None) => {
                            for _ in 0..len {
                                self.skip_string()?;
                            }
                        }
                        (t, None) => return Err(corrupt(format!("an array of unknown type {t}"))),
                    }
                    GgufValue::LongArray { len }
                }
            }
            10 => GgufValue::Int(self.u64()? as i128),
            11 => GgufValue::Int(i64::from_le_bytes(self.bytes()?) as i128),
            12 => GgufValue::Float(f64::from_le_bytes(self.bytes()?)),
            t => return Err(corrupt(format!("a metadata value of unknown type {t}"))),
        })
    }

    fn parse(&mut self) -> Result<GgufHeader, GgufError> {
        if self.file_size < 4 {
            return Err(GgufError::NotGguf);
        }
        let magic = self.bytes::<4>()?;
        if &magic != GGUF_MAGIC {
            return Err(GgufError::NotGguf);
        }
        let version = self.u32()?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = self.u64()?;
        let n_kv = self.u64()?;
        // A key/value pair takes at least 13 bytes, a tensor descriptor at least 28.
        if n_kv.saturating_mul(13) > self.remaining()
            || n_tensors.saturating_mul(28) > self.remaining()
        {
            return Err(corrupt(format!(
                "{n_kv} metadata keys and {n_tensors} tensors cannot fit in the file"
            )));
        }
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = self.string()?;
            let value_type = self.u32()?;
            let value = self.value(value_type, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(corrupt(format!("the key {key} appears twice")));
            }
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a,
                _ => return Err(corrupt("general.alignment is not a power of two")),
            },
        };
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            let name = self.string()?;
            let n_dims = self.u32()?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(corrupt(format!("tensor {name} has {n_dims} dimensions")));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(self.u64()?);
            }
            let ggml_type = self.u32()?;
            let offset = self.u64()?;
            tensors.push(GgufTensor {
                name,
                dims,
                ggml_type,
                offset,
                shard: 0,
            });
        }
        let data_start = self.pos.div_ceil(alignment) * alignment;
        for t in &tensors {
            if t.offset % alignment != 0 {
                return Err(corrupt(format!("tensor {} is not aligned", t.name)));
            }
            let n_elements = t
                .dims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| corrupt(format!("tensor {} has an impossible shape", t.name)))?;
            if let Some(n_bytes) = tensor_bytes(t.ggml_type, t.dims[0], n_elements) {
                let end = data_start
                    .checked_add(t.offset)
                    .and_then(|s| s.checked_add(n_bytes))
                    .ok_or_else(|| {
                        corrupt(format!("tensor {} lies past the end of the file", t.name))
                    })?;
                if end > self.file_size {
                    return Err(corrupt(format!(
                        "tensor {} lies past the end of the file (needs {end} bytes, the file has {})",
                        t.name, self.file_size
                    )));
                }
            } else if t.ggml_type > 64 {
                return Err(corrupt(format!(
                    "tensor {} has unknown type {}",
                    t.name, t.ggml_type
                )));
            }
        }
        Ok(GgufHeader {
            version,
            metadata,
            tensors,
            file_size: self.file_size,
            data_start,
            shards: Vec::new(),
        })
    }
}

/// Bytes taken by a tensor of `ggml_type`, or `None` for a type not listed here.
fn tensor_bytes(ggml_type: u32, row_len: u64, n_elements: u64) -> Option<u64> {
    // (block size in elements, bytes per block), from ggml's type traits.
    let (block, bytes) = match ggml_type {
        0 => (1, 4),     // F32
        1 => (1, 2),     // F16
        2 => (32, 18),   // Q4_0
        3 => (32, 20),   // Q4_1
        6 => (32, 22),   // Q5_0
        7 => (32, 24),   // Q5_1
        8 => (32, 34),   // Q8_0
        9 => (32, 36),   // Q8_1
        10 => (256, 84), // Q2_K
        11 => (256, 110),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        15 => (256, 292),
        24 => (1, 1), // I8
        25 => (1, 2), // I16
        26 => (1, 4), // I32
        27 => (1, 8), // I64
        28 => (1, 8), // F64
        30 => (1, 2), // BF16
        _ => return None,
    };
    if !row_len.is_multiple_of(block) {
        return Some(u64::MAX);
    }
    n_elements.checked_div(block)?.checked_mul(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_kv_string(buf: &mut Vec<u8>, key: &str, value: &str) {
        buf.extend((key.len() as u64).to_le_bytes());
        buf.extend(key.as_bytes());
        buf.extend(8u32.to_le_bytes());
        buf.extend((value.len() as u64).to_le_bytes());
        buf.extend(value.as_bytes());
    }

    fn minimal(extra_tensor_offset: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        buf.extend(b"GGUF");
        buf.extend(3u32.to_le_bytes());
        buf.extend(1u64.to_le_bytes());
        buf.extend(1u64.to_le_bytes());
        write_kv_string(&mut buf, "general.architecture", "bert");
        let name = "t";
        buf.extend((name.len() as u64).to_le_bytes());
        buf.extend(name.as_bytes());
        buf.extend(1u32.to_le_bytes());
        buf.extend(4u64.to_le_bytes());
        buf.extend(0u32.to_le_bytes());
        buf.extend(extra_tensor_offset.to_le_bytes());
        while buf.len() % 32 != 0 {
            buf.push(0);
        }
        buf.extend([0u8; 16]);
        buf
    }

    fn parse(bytes: &[u8]) -> Result<GgufHeader, GgufError> {
        let mut r = HeaderReader {
            inner: std::io::Cursor::new(bytes.to_vec()),
            pos: 0,
            file_size: bytes.len() as u64,
        };
        r.parse()
    }

    #[test]
    fn reads_a_minimal_file() {
        let h = parse(&minimal(0)).unwrap();
        assert_eq!(h.get_str("general.architecture"), Some("bert"));
        assert_eq!(h.tensors[0].dims, vec![4]);
    }

    #[test]
    fn rejects_tensor_past_end() {
        assert!(matches!(parse(&minimal(32)), Err(GgufError::Corrupt(_))));
    }

    #[test]
    fn rejects_truncated_and_foreign_files() {
        let full = minimal(0);
        for cut in [0, 3, 8, 20, 40, 60] {
            assert!(parse(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(
            parse(b"PK\x03\x04 not a model"),
            Err(GgufError::NotGguf)
        ));
    }

    #[test]
    fn rejects_huge_counts() {
        let mut b = minimal(0);
        b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(parse(&b), Err(GgufError::Corrupt(_))));
    }
}
