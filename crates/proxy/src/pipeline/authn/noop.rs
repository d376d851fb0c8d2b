//! `noop`: always responsible, subject empty. The authorizer and mutators still run.
