//! Cause codes: the policy engine's finding codes plus the three only the diagnosis produces,
//! as one closed set that serialises to today's kebab-case strings.

use serde::{Serialize, Serializer};

use crate::policy::FindingCode;

/// What a [`super::Cause`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CauseCode {
    /// An error finding of the policy engine.
    Finding(FindingCode),
    /// DescribeKey: `KeyState` `Disabled`.
    KeyDisabled,
    /// DescribeKey: `KeyState` `PendingDeletion`.
    KeyPendingDeletion,
    /// A KMS refusal in CloudTrail for this launch that the policies read do not explain.
    KmsAccessDenied,
}

impl CauseCode {
    /// The kebab-case code (`key-policy-no-access`, `key-disabled`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Finding(f) => f.as_str(),
            Self::KeyDisabled => "key-disabled",
            Self::KeyPendingDeletion => "key-pending-deletion",
            Self::KmsAccessDenied => "kms-access-denied",
        }
    }
}

impl From<FindingCode> for CauseCode {
    fn from(f: FindingCode) -> Self {
        Self::Finding(f)
    }
}

impl std::fmt::Display for CauseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CauseCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A code compares equal to its string (`cause.code == "needs-grant"`).
impl PartialEq<str> for CauseCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for CauseCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serialised, every code is the string it always was (finding codes as the engine spells
    /// them).
    #[test]
    fn serialises_to_the_kebab_case_strings() {
        let mut cases = vec![
            (CauseCode::KeyDisabled, "key-disabled".to_string()),
            (
                CauseCode::KeyPendingDeletion,
                "key-pending-deletion".to_string(),
            ),
            (CauseCode::KmsAccessDenied, "kms-access-denied".to_string()),
        ];
        for f in FindingCode::ALL {
            let engine = serde_json::to_value(f)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            cases.push((CauseCode::from(*f), engine.unwrap_or_default()));
        }
        for (code, want) in cases {
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::json!(want))
            );
            assert_eq!(code.to_string(), want);
            assert!(code == want.as_str());
        }
    }
}
