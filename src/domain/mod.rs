//! AWS vocabulary every layer shares, as pure values: ARNs and the principals they name, and the
//! states of images, keys and instances.
//! Below every other module: it depends on nothing of amishare's.

pub mod arn;
pub mod states;
