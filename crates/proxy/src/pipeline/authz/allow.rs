//! `allow`: lets every authenticated request through.
