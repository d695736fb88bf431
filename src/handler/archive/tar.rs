//! A folder as a tar stream (GNU format), as a [`BodySource`].
//!
//! Headers come from the `tar` crate: [`tar::Builder::append_data`] writes each entry's header,
//! preceded by a GNU long-name entry when the path does not fit the 100-byte name field, with
//! sizes above 8 GiB in GNU base-256, and its checksum; [`tar::Builder::finish`] writes the two
//! zero blocks that end the archive. The builder is handed an empty reader for the content, so it
//! writes the header alone; the content follows as a [`Piece::File`] (sent with `sendfile`, never
//! copied through memory) and then the zero padding to the next 512-byte block, which is all this
//! module writes by hand. The builder cannot send a file's bytes itself without reading the
//! whole file in one call, which would stall the loop.
//!
//! A file whose size or modification time differs after its content was sent, or that ends
//! early, fails the body: the connection closes instead of ending an archive that looks complete
//! but holds other bytes than its headers say.
//!
//! Cost per call: one walk step (see [`super::walk`]) and one header, or one file slice.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use tar::{Builder, EntryType, Header};

use super::walk::{Meta, Step, Walk};
use crate::response::body::{BodySource, FileBody, Piece};

/// The tar block size: headers and content are padded to it.
const BLOCK: u64 = 512;

/// A folder being sent as a tar archive.
pub(crate) struct TarBody {
    walk: Walk,
    /// Writes headers into its own `Vec`, drained into the connection's buffer at each call.
    builder: Builder<Vec<u8>>,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Looking for the next entry.
    Entries,
    /// A file's header went out; its content comes next.
    Content {
        file: Rc<File>,
        meta: Meta,
    },
    /// A file's content went out; check it did not change, then pad.
    Padding {
        file: Rc<File>,
        meta: Meta,
    },
    Done,
}

impl std::fmt::Debug for TarBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarBody")
            .field("walk", &self.walk)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl TarBody {
    pub(crate) fn new(walk: Walk) -> TarBody {
        TarBody {
            walk,
            builder: Builder::new(Vec::new()),
            state: State::Entries,
        }
    }

    /// Appends what the builder wrote to `out`.
    fn drain(&mut self, out: &mut Vec<u8>) {
        let written = self.builder.get_mut();
        out.extend_from_slice(written);
        written.clear();
    }
}

/// A header for an entry of `kind` with `meta`; no owner names or ids (they mean nothing on the
/// receiving machine and would tell it about this one).
fn header(kind: EntryType, meta: &Meta, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(meta.mode);
    header.set_mtime(meta.mtime.max(0) as u64);
    header.set_uid(0);
    header.set_gid(0);
    header
}

impl BodySource for TarBody {
    fn next_piece(&mut self, out: &mut Vec<u8>, _max: usize) -> io::Result<Piece> {
        match std::mem::replace(&mut self.state, State::Entries) {
            State::Entries => {
                let (name, kind, meta, file) = match self.walk.step()? {
                    Step::Nothing => return Ok(Piece::Bytes),
                    Step::End => {
                        self.builder.finish()?;
                        self.drain(out);
                        self.state = State::Done;
                        return Ok(Piece::Bytes);
                    }
                    Step::Dir { name, meta } => (name, EntryType::Directory, meta, None),
                    Step::File { name, file, meta } => (name, EntryType::Regular, meta, Some(file)),
                };
                let size = if file.is_some() { meta.size } else { 0 };
                let mut header = header(kind, &meta, size);
                let path = Path::new(OsStr::from_bytes(name));
                self.builder.append_data(&mut header, path, io::empty())?;
                self.drain(out);
                if let Some(file) = file {
                    self.state = State::Content {
                        file: Rc::new(file),
                        meta,
                    };
                }
                Ok(Piece::Bytes)
            }
            State::Content { file, meta } => {
                self.state = State::Padding {
                    file: Rc::clone(&file),
                    meta,
                };
                if meta.size == 0 {
                    return Ok(Piece::Bytes);
                }
                Ok(Piece::File(FileBody {
                    file,
                    offset: 0,
                    remaining: meta.size,
                }))
            }
            State::Padding { file, meta } => {
                meta.still(&file)?;
                let rest = meta.size % BLOCK;
                if rest != 0 {
                    out.resize(out.len() + (BLOCK - rest) as usize, 0);
                }
                Ok(Piece::Bytes)
            }
            State::Done => {
                self.state = State::Done;
                Ok(Piece::End)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::walk::tests::TempTree;
    use super::*;
    use crate::response::body::testing::drain;
    use std::io::Read;

    #[test]
    fn reads_back_with_the_tar_crate() {
        let tree = TempTree::new();
        let long = format!("{}/{}.txt", "d".repeat(90), "n".repeat(120));
        let files: Vec<(String, Vec<u8>)> = vec![
            ("a.txt".into(), b"hello".to_vec()),
            ("empty".into(), Vec::new()),
            ("block".into(), vec![7; 512]),
            ("sub/b.bin".into(), (0..5000u32).map(|i| i as u8).collect()),
            (long.clone(), b"long name".to_vec()),
            ("caf\u{e9} \"q\".txt".into(), b"utf8".to_vec()),
        ];
        for (name, data) in &files {
            tree.file(&format!("site/{name}"), data);
        }
        tree.dir("site/void");
        let bytes = drain(
            &mut TarBody::new(tree.walk("site", "site", false)),
            16 * 1024,
        )
        .unwrap();
        assert_eq!(bytes.len() % 512, 0);
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut got = std::collections::BTreeMap::new();
        let mut dirs = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            match entry.header().entry_type() {
                EntryType::Directory => dirs.push(path),
                EntryType::Regular => {
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).unwrap();
                    got.insert(path, data);
                }
                other => panic!("{other:?}"),
            }
        }
        let want: std::collections::BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(n, d)| (format!("site/{n}"), d.clone()))
            .collect();
        assert_eq!(got, want);
        dirs.sort();
        let mut want_dirs = vec![
            "site".to_string(),
            format!("site/{}", "d".repeat(90)),
            "site/sub".into(),
            "site/void".into(),
        ];
        want_dirs.sort();
        let dirs: Vec<String> = dirs
            .iter()
            .map(|d| d.trim_end_matches('/').into())
            .collect();
        assert_eq!(dirs, want_dirs);
    }

    #[test]
    fn a_file_that_grows_fails_the_body() {
        let tree = TempTree::new();
        tree.file("site/grow.txt", b"12345");
        let mut body = TarBody::new(tree.walk("site", "site", false));
        let mut out = Vec::new();
        let mut result = Ok(());
        for _ in 0..100 {
            match body.next_piece(&mut out, 16 * 1024) {
                Ok(Piece::File(_)) => {
                    std::fs::write(tree.0.join("site/grow.txt"), b"123456789").unwrap();
                }
                Ok(Piece::End) => break,
                Ok(Piece::Bytes | Piece::Pending) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        assert!(result.is_err(), "the archive ended as if complete");
    }
}
