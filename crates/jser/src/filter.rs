//! Limits and the class firewall applied while reading.
//!
//! Spec: the class-name filter follows Tomcat's `sessionAttributeValueClassNameFilter`
//! (`org.apache.catalina.session.ManagerBase`, applied by
//! `org.apache.catalina.util.CustomObjectInputStream.resolveClass`/`resolveProxyClass`): a
//! `java.util.regex.Pattern` that must `matches()` the whole class name. Here the pattern is
//! compiled with the `regex` crate, anchored at both ends; the common Java syntax (escapes,
//! classes, groups, `(?:...)`, alternation, quantifiers) is the same, look-around and
//! back-references are not supported and make [`ClassFilter::new`] fail.
//!
//! The filter is checked for every class the reader would resolve: each named class descriptor
//! (superclasses and enum classes included), the element class of an object array descriptor
//! (`[Lcom.x.Foo;` checks `com.x.Foo`; primitive arrays check nothing), and every interface of a
//! proxy class descriptor. The limits correspond to `jdk.serialFilter`'s `maxdepth`, `maxrefs`,
//! `maxarray` and `maxbytes`.

use std::sync::Arc;

use regex::Regex;

use crate::model::array_component_class;

/// Bounds on what the reader accepts. Every bound is checked before anything is allocated for
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Nesting of values (objects in fields, annotations, arrays, class descriptors in super
    /// chains). The reader, the writer and the copier recurse once per level, on stack segments
    /// of their own when the caller's runs short.
    pub max_depth: usize,
    /// Handles (items) in the whole stream, across resets.
    pub max_handles: usize,
    /// Elements of one array.
    pub max_array_len: usize,
    /// Bytes of one string or block-data segment.
    pub max_string_len: usize,
    /// Bytes of the whole stream.
    pub max_total_bytes: usize,
}

impl Default for Limits {
    /// Generous bounds for session data: depth 2000 (about what a JVM thread with the default
    /// stack reads), a million handles, arrays of 16 Mi elements, strings of 16 MiB, streams of
    /// 256 MiB.
    fn default() -> Self {
        Limits {
            max_depth: 2000,
            max_handles: 1 << 20,
            max_array_len: 1 << 24,
            max_string_len: 1 << 24,
            max_total_bytes: 1 << 28,
        }
    }
}

/// Allow and deny patterns over class names.
#[derive(Debug, Clone)]
pub struct ClassFilter {
    // Behind an Arc: a cloned `Regex` starts a new pool of match caches, rebuilt at its first
    // match; clones of a filter (one per parse) share the compiled regex and its caches.
    allow: Option<Arc<Regex>>,
    deny: Option<Arc<Regex>>,
    allow_src: Option<String>,
    deny_src: Option<String>,
}

/// A filter pattern does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("class name pattern {pattern:?} does not compile: {message}")]
pub struct FilterError {
    pub pattern: String,
    pub message: String,
}

fn anchored(pattern: &str) -> Result<Arc<Regex>, FilterError> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Arc::new)
        .map_err(|e| FilterError { pattern: pattern.to_string(), message: e.to_string() })
}

impl ClassFilter {
    /// `allow`: when given, every class name must match it (Tomcat's
    /// `sessionAttributeValueClassNameFilter`). `deny`: when given, no class name may match it.
    /// An empty pattern counts as not given, as in Tomcat.
    pub fn new(allow: Option<&str>, deny: Option<&str>) -> Result<Self, FilterError> {
        let allow = allow.filter(|p| !p.is_empty());
        let deny = deny.filter(|p| !p.is_empty());
        Ok(ClassFilter {
            allow: allow.map(anchored).transpose()?,
            deny: deny.map(anchored).transpose()?,
            allow_src: allow.map(str::to_string),
            deny_src: deny.map(str::to_string),
        })
    }

    /// Only classes matching `pattern`.
    pub fn allow(pattern: &str) -> Result<Self, FilterError> {
        ClassFilter::new(Some(pattern), None)
    }

    /// Every class except those matching `pattern`.
    pub fn deny(pattern: &str) -> Result<Self, FilterError> {
        ClassFilter::new(None, Some(pattern))
    }

    pub fn allow_pattern(&self) -> Option<&str> {
        self.allow_src.as_deref()
    }

    pub fn deny_pattern(&self) -> Option<&str> {
        self.deny_src.as_deref()
    }

    /// Checks one class name as it would be resolved; `Err` says which rule refused it.
    pub fn check_name(&self, name: &str) -> Result<(), &'static str> {
        if let Some(deny) = &self.deny {
            if deny.is_match(name) {
                return Err("matches the deny pattern");
            }
        }
        if let Some(allow) = &self.allow {
            if !allow.is_match(name) {
                return Err("does not match the allow pattern");
            }
        }
        Ok(())
    }

    /// Checks the name of a class descriptor: for an array class its element class (nothing
    /// for primitive arrays), otherwise the name itself. Returns the name checked and the rule.
    pub fn check_descriptor<'n>(&self, name: &'n str) -> Result<(), (&'n str, &'static str)> {
        let checked = if name.starts_with('[') {
            match array_component_class(name) {
                Some(c) => c,
                None => return Ok(()),
            }
        } else {
            name
        };
        self.check_name(checked).map_err(|r| (checked, r))
    }
}

/// Everything the reader is told.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    pub limits: Limits,
    pub filter: Option<ClassFilter>,
}

impl ParseOptions {
    pub fn with_filter(filter: ClassFilter) -> Self {
        ParseOptions { limits: Limits::default(), filter: Some(filter) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_the_whole_name_as_java_matches_does() {
        let f = ClassFilter::allow(r"java\.lang\.(?:Boolean|Integer|Long|Number|String)").unwrap();
        assert_eq!(f.check_name("java.lang.Integer"), Ok(()));
        assert!(f.check_name("java.lang.IntegerX").is_err());
        assert!(f.check_name("xjava.lang.Integer").is_err());
        assert_eq!(f.check_descriptor("[Ljava.lang.String;"), Ok(()));
        assert_eq!(f.check_descriptor("[[I"), Ok(()));
        assert_eq!(f.check_descriptor("[Lcom.x.Foo;"), Err(("com.x.Foo", "does not match the allow pattern")));
    }

    #[test]
    fn deny_wins_over_allow_and_empty_patterns_are_ignored() {
        let f = ClassFilter::new(Some(".*"), Some(r"org\.evil\..*")).unwrap();
        assert!(f.check_name("org.evil.Gadget").is_err());
        assert!(f.check_name("org.good.Thing").is_ok());
        let none = ClassFilter::new(Some(""), None).unwrap();
        assert!(none.check_name("anything").is_ok());
        assert!(ClassFilter::allow("(?<=a)b").is_err());
    }
}
