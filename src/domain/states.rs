//! AWS state vocabularies as closed sets with room for what AWS adds: an image's, a key's and an
//! instance's state and a key's manager. Each parses from and displays as AWS's own string, and
//! serialises as that string (so `Option<ImageState>` is the same JSON as `Option<String>`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One AWS string enum: known values plus `Other(String)` for values AWS may add.
macro_rules! aws_states {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version of amishare does not know.
            Other(String),
        }

        impl $name {
            /// The value for AWS's string `s` (`Other` when unknown).
            pub fn parse(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }

            /// AWS's string for this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(|s| Self::parse(&s))
            }
        }
    };
}

/// A closed set of values that serialises as (and compares equal to) fixed strings, such as a
/// report's status: `as_str`, `Display`, `== "ok"` and serde as the string.
macro_rules! closed_set {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The string this value serialises to.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        /// A value compares equal to its string (`status == "ok"`).
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                match s.as_str() {
                    $($text => Ok($name::$variant),)+
                    other => Err(<D::Error as ::serde::de::Error>::unknown_variant(
                        other,
                        &[$($text,)+],
                    )),
                }
            }
        }
    };
}
pub(crate) use closed_set;

aws_states! {
    /// An AMI's state (EC2 `ImageState`).
    ImageState {
        Available => "available",
        Pending => "pending",
        Failed => "failed",
        Deregistered => "deregistered",
        Invalid => "invalid",
        Transient => "transient",
        Error => "error",
        Disabled => "disabled",
    }
}

aws_states! {
    /// A KMS key's state (DescribeKey `KeyState`).
    KeyState {
        Enabled => "Enabled",
        Disabled => "Disabled",
        PendingDeletion => "PendingDeletion",
        PendingImport => "PendingImport",
        PendingReplicaDeletion => "PendingReplicaDeletion",
        Unavailable => "Unavailable",
        Creating => "Creating",
        Updating => "Updating",
    }
}

aws_states! {
    /// An EC2 instance's state (`InstanceStateName`).
    InstanceState {
        Pending => "pending",
        Running => "running",
        ShuttingDown => "shutting-down",
        Terminated => "terminated",
        Stopping => "stopping",
        Stopped => "stopped",
    }
}

aws_states! {
    /// Who manages a KMS key (DescribeKey `KeyManager`).
    KeyManager {
        /// An AWS managed key such as `aws/ebs`: never usable by another account.
        Aws => "AWS",
        Customer => "CUSTOMER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_aws_strings() {
        assert_eq!(ImageState::parse("available"), ImageState::Available);
        assert_eq!(
            InstanceState::parse("shutting-down"),
            InstanceState::ShuttingDown
        );
        assert_eq!(InstanceState::ShuttingDown.to_string(), "shutting-down");
        assert_eq!(
            KeyState::parse("PendingDeletion"),
            KeyState::PendingDeletion
        );
        assert_eq!(KeyManager::parse("AWS"), KeyManager::Aws);
        assert_eq!(KeyManager::Customer.as_str(), "CUSTOMER");
        assert_eq!(
            KeyState::parse("SomethingNew"),
            KeyState::Other("SomethingNew".into())
        );
        assert_eq!(KeyState::parse("SomethingNew").to_string(), "SomethingNew");
    }

    closed_set! {
        enum Sample {
            Ok => "ok",
            NothingToDo => "nothing-to-do",
        }
    }

    #[test]
    fn a_closed_set_is_its_string() {
        for v in Sample::ALL {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(serde_json::from_str::<Sample>(&json).unwrap(), *v);
        }
        assert!(Sample::NothingToDo == "nothing-to-do");
        assert_eq!(format!("[{:<15}]", Sample::Ok), "[ok             ]");
        assert!(serde_json::from_str::<Sample>("\"nope\"").is_err());
    }

    #[test]
    fn serialises_as_the_aws_string() {
        let v: Vec<Option<ImageState>> = vec![
            Some(ImageState::Pending),
            None,
            Some(ImageState::Other("x".into())),
        ];
        let json = serde_json::to_string(&v).unwrap_or_default();
        assert_eq!(json, r#"["pending",null,"x"]"#);
        let back: Vec<Option<ImageState>> = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, v);
        let k: KeyState =
            serde_json::from_str(r#""Enabled""#).unwrap_or(KeyState::Other("?".into()));
        assert_eq!(k, KeyState::Enabled);
    }
}
