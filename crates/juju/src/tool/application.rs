//! The application: `application-version-set` (spec/juju-runtime.md §2.2). Immediate, not
//! transactional.

use super::{END_OF_FLAGS, argv};

/// `application-version-set`.
pub const APPLICATION_VERSION_SET: &str = "application-version-set";

/// `application-version-set -- <version>`. The tool prints nothing.
pub fn application_version_set_args(version: &str) -> Vec<String> {
    argv(APPLICATION_VERSION_SET, [END_OF_FLAGS, version])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_follows_end_of_flags() {
        assert_eq!(
            application_version_set_args("v0.40.9"),
            ["application-version-set", "--", "v0.40.9"]
        );
        assert_eq!(
            application_version_set_args("--odd"),
            ["application-version-set", "--", "--odd"]
        );
    }
}
