//! A Juju charm runtime for compiled charms (work in progress: see issue 4).
