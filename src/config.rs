//! TODO (config helper)
