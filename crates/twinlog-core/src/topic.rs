//! Topic names and their rules, checked once at the edge so that a name can always be used
//! as a directory name on disk and as a Kafka topic name later.
//!
//! Rules (Kafka's): 1 to 249 characters from `a-z A-Z 0-9 . _ -`, and not `.` or `..`.

use std::fmt;
use std::str::FromStr;

/// The longest topic name Kafka accepts; we keep its limit so that topics can move to Kafka.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// A validated topic name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicName(String);

/// Why a topic name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidTopicName {
    /// The name is empty.
    #[error("topic name is empty; use 1 to 249 characters from a-z, A-Z, 0-9, '.', '_', '-'")]
    Empty,
    /// The name is longer than [`MAX_TOPIC_NAME_LEN`].
    #[error("topic name is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// Its length in characters.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The name contains a character outside the allowed set.
    #[error(
        "topic name {name:?} contains {ch:?} at position {index}; only a-z, A-Z, 0-9, '.', '_' and '-' are allowed"
    )]
    InvalidChar {
        /// The rejected name.
        name: String,
        /// The first offending character.
        ch: char,
        /// Its position (0-based, in characters).
        index: usize,
    },
    /// The name is `.` or `..`, which cannot be directory names.
    #[error("topic name {name:?} is reserved; choose another name")]
    Reserved {
        /// The rejected name.
        name: String,
    },
}

impl TopicName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<TopicName, InvalidTopicName> {
        if name.is_empty() {
            return Err(InvalidTopicName::Empty);
        }
        if let Some((index, ch)) = name
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(InvalidTopicName::InvalidChar {
                name: name.to_owned(),
                ch,
                index,
            });
        }
        // All characters are ASCII from here on, so bytes == characters.
        if name.len() > MAX_TOPIC_NAME_LEN {
            return Err(InvalidTopicName::TooLong {
                len: name.len(),
                max: MAX_TOPIC_NAME_LEN,
            });
        }
        if name == "." || name == ".." {
            return Err(InvalidTopicName::Reserved {
                name: name.to_owned(),
            });
        }
        Ok(TopicName(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for TopicName {
    type Err = InvalidTopicName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TopicName::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kafka_like_names() {
        for name in [
            "a",
            "events",
            "sensor.readings-v2_raw",
            "..a",
            "A9",
            &"x".repeat(249),
        ] {
            assert_eq!(TopicName::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn rejects_with_the_reason() {
        assert_eq!(TopicName::new(""), Err(InvalidTopicName::Empty));
        assert_eq!(
            TopicName::new(&"x".repeat(250)),
            Err(InvalidTopicName::TooLong { len: 250, max: 249 })
        );
        assert_eq!(
            TopicName::new(".."),
            Err(InvalidTopicName::Reserved { name: "..".into() })
        );
        let err = TopicName::new("bad/name").unwrap_err();
        assert_eq!(
            err,
            InvalidTopicName::InvalidChar {
                name: "bad/name".into(),
                ch: '/',
                index: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "topic name \"bad/name\" contains '/' at position 3; only a-z, A-Z, 0-9, '.', '_' and '-' are allowed"
        );
        // Non-ASCII is rejected at its character position, not its byte position.
        assert!(matches!(
            TopicName::new("éa b"),
            Err(InvalidTopicName::InvalidChar {
                ch: 'é',
                index: 0,
                ..
            })
        ));
        assert!(matches!(
            TopicName::new("ab c"),
            Err(InvalidTopicName::InvalidChar {
                ch: ' ',
                index: 2,
                ..
            })
        ));
    }
}
