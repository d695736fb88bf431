//! One listed entry: what it is, its size and time, and where its name lies. 24 bytes, so a
//! folder of 100,000 entries costs about 2.4 MiB plus the names.

use rustix::fs::FileType;

/// What an entry is, after following a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Directory,
    File,
    /// A FIFO, socket or device: listed, but answered 403.
    Other,
}

/// One listed entry, 24 bytes; its name lives in its run's name buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    /// Offset of the name in [`Run::names`].
    pub(crate) name_at: u32,
    pub(crate) name_len: u16,
    pub(crate) kind: Kind,
    /// `size` and `modified` are known (an entry that cannot be stat'ed is still listed).
    pub(crate) known: bool,
    pub(crate) size: u64,
    /// Seconds since the Unix epoch.
    pub(crate) modified: i64,
}

impl Entry {
    pub(crate) fn name<'a>(&self, names: &'a [u8]) -> &'a [u8] {
        let at = self.name_at as usize;
        &names[at..at + self.name_len as usize]
    }
}

pub(crate) fn entry_of_kind(kind: Kind) -> Entry {
    Entry {
        name_at: 0,
        name_len: 0,
        kind,
        known: false,
        size: 0,
        modified: 0,
    }
}

pub(crate) fn kind_of(file_type: FileType) -> Kind {
    match file_type {
        FileType::Directory => Kind::Directory,
        FileType::RegularFile => Kind::File,
        _ => Kind::Other,
    }
}
