//! The shared AWS config and credentials files as amishare reads them itself: the profiles they
//! name (the guided prompts offer them; a misspelt profile is told from a broken one), and the
//! retry settings aws-config would panic on (`AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` and the
//! profile's `max_attempts` / `retry_mode`), checked first so they are bad input instead.

use aws_config::retry::RetryMode;

use super::options::SessionError;

/// Whether `profile` is named in the shared config file (`[profile NAME]`, or `[default]`) or
/// the credentials file (`[NAME]`), honouring `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`.
/// Only asked after loading failed, to tell a misspelt profile from a broken one.
pub(super) fn profile_exists(profile: &str) -> bool {
    profile_names().iter().any(|p| p == profile)
}

/// The profiles of the shared AWS config and credentials files (`AWS_CONFIG_FILE`,
/// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config` and `~/.aws/credentials`), in file order,
/// each once (the guided prompts offer them).
pub fn profile_names() -> Vec<String> {
    let home = dirs::home_dir().unwrap_or_default().join(".aws");
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| home.join(default))
    };
    let mut names: Vec<String> = Vec::new();
    for (path, config) in [
        (file("AWS_CONFIG_FILE", "config"), true),
        (file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), false),
    ] {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for l in text.lines() {
            let Some(section) = l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
                continue;
            };
            let section = section.trim();
            let name = if config && section != "default" {
                section.strip_prefix("profile").map(str::trim)
            } else {
                Some(section)
            };
            if let Some(n) = name.filter(|n| !n.is_empty()) {
                if !names.iter().any(|x| x == n) {
                    names.push(n.to_string());
                }
            }
        }
    }
    names
}

/// The value of `key` in `profile`'s section of the shared config file (`[profile NAME]`, or
/// `[default]`) or the credentials file (`[NAME]`), as written (trimmed); the last one wins.
pub(super) fn profile_value(profile: &str, key: &str) -> Option<String> {
    let home = dirs::home_dir().unwrap_or_default().join(".aws");
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| home.join(default))
    };
    let mut found = None;
    for (path, config) in [
        (file("AWS_CONFIG_FILE", "config"), true),
        (file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), false),
    ] {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let mut inside = false;
        for l in text.lines().map(str::trim) {
            if let Some(section) = l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let section = section.trim();
                let name = if config && section != "default" {
                    section.strip_prefix("profile").map(str::trim)
                } else {
                    Some(section)
                };
                inside = name == Some(profile);
            } else if inside {
                if let Some((k, v)) = l.split_once('=') {
                    if k.trim() == key {
                        found = Some(v.trim().to_string());
                    }
                }
            }
        }
    }
    found
}

/// An invalid `max_attempts` / `retry_mode` in the selected profile (aws-config panics on it).
pub(super) fn invalid_retry_profile(profile: Option<&str>) -> Option<SessionError> {
    let profile = profile
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .unwrap_or_else(|| "default".to_string());
    let bad = |key, value, expected| SessionError::BadProfileRetrySetting {
        profile: profile.clone(),
        key,
        value,
        expected,
    };
    if let Some(v) = profile_value(&profile, "max_attempts") {
        if !matches!(v.parse::<u32>(), Ok(n) if n > 0) {
            return Some(bad("max_attempts", v, "a whole number from 1"));
        }
    }
    if let Some(v) = profile_value(&profile, "retry_mode") {
        if v.parse::<RetryMode>().is_err() {
            return Some(bad("retry_mode", v, "`standard` or `adaptive`"));
        }
    }
    None
}

/// The first invalid one of `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE`, read as aws-config reads them
/// (a whole number from 1; `standard` or `adaptive`). Checked before loading: aws-config panics
/// on an invalid value (e.g. the AWS CLI's `legacy` mode); the profile file's settings are
/// checked by [`invalid_retry_profile`].
pub(super) fn invalid_retry_env() -> Option<SessionError> {
    let bad = |var, value, expected| SessionError::BadRetrySetting {
        var,
        value,
        expected,
    };
    if let Ok(v) = std::env::var("AWS_MAX_ATTEMPTS") {
        if !matches!(v.parse::<u32>(), Ok(n) if n > 0) {
            return Some(bad("AWS_MAX_ATTEMPTS", v, "a whole number from 1"));
        }
    }
    if let Ok(v) = std::env::var("AWS_RETRY_MODE") {
        if v.parse::<RetryMode>().is_err() {
            return Some(bad("AWS_RETRY_MODE", v, "`standard` or `adaptive`"));
        }
    }
    None
}
