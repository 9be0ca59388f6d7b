//! A task's workload: bytes the task owns, or borrows from the caller without a copy.

use std::borrow::Cow;
use std::fmt;

/// The bytes a [`Task`](crate::Task) sends, owned or borrowed.
///
/// Everything that is bytes converts into it: `Vec<u8>`, `String`, `&[u8]`, `&str`, byte
/// literals, `&Vec<u8>`, `&String` and `Cow<[u8]>`. Owned values are moved in; borrowed ones
/// are used in place, so a large payload the caller keeps is never copied (libgearman takes a
/// pointer the same way). A borrowed workload ties the task to the caller's buffer (`'a`).
///
/// ```
/// use gearman_sync::{Workload, Task};
/// let image = vec![0u8; 1 << 20];
/// let task = Task::new("thumbnail", &image); // borrowed: no copy of the megabyte
/// assert_eq!(task.workload().len(), 1 << 20);
/// assert!(Workload::from(&image).is_borrowed());
/// assert!(!Workload::from(image.clone()).is_borrowed());
/// assert_eq!(Workload::from("text").as_bytes(), b"text");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Workload<'a>(Cow<'a, [u8]>);

impl<'a> Workload<'a> {
    /// The bytes.
    ///
    /// ```
    /// use gearman_sync::Workload;
    /// assert_eq!(Workload::from(b"abc").as_bytes(), b"abc");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// True when the bytes are the caller's, used in place.
    ///
    /// ```
    /// use gearman_sync::Workload;
    /// assert!(Workload::from("borrowed").is_borrowed());
    /// assert!(!Workload::from(String::from("owned")).is_borrowed());
    /// ```
    pub fn is_borrowed(&self) -> bool {
        matches!(self.0, Cow::Borrowed(_))
    }

    /// The bytes as an owned vector (a copy only when they were borrowed).
    ///
    /// ```
    /// use gearman_sync::Workload;
    /// assert_eq!(Workload::from("abc").into_vec(), b"abc".to_vec());
    /// ```
    pub fn into_vec(self) -> Vec<u8> {
        self.0.into_owned()
    }
}

impl fmt::Debug for Workload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workload")
            .field("len", &self.0.len())
            .field("borrowed", &self.is_borrowed())
            .finish()
    }
}

impl std::ops::Deref for Workload<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Workload<'_> {
    fn from(bytes: Vec<u8>) -> Self {
        Workload(Cow::Owned(bytes))
    }
}

impl From<String> for Workload<'_> {
    fn from(text: String) -> Self {
        Workload(Cow::Owned(text.into_bytes()))
    }
}

impl<'a> From<Cow<'a, [u8]>> for Workload<'a> {
    fn from(bytes: Cow<'a, [u8]>) -> Self {
        Workload(bytes)
    }
}

impl<'a> From<&'a [u8]> for Workload<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Workload(Cow::Borrowed(bytes))
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Workload<'a> {
    fn from(bytes: &'a [u8; N]) -> Self {
        Workload(Cow::Borrowed(bytes))
    }
}

impl<'a> From<&'a str> for Workload<'a> {
    fn from(text: &'a str) -> Self {
        Workload(Cow::Borrowed(text.as_bytes()))
    }
}

impl<'a> From<&'a Vec<u8>> for Workload<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Workload(Cow::Borrowed(bytes))
    }
}

impl<'a> From<&'a String> for Workload<'a> {
    fn from(text: &'a String) -> Self {
        Workload(Cow::Borrowed(text.as_bytes()))
    }
}
