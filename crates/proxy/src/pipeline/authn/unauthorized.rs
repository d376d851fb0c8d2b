//! `unauthorized`: always responsible, always 401 "Access credentials are invalid".
