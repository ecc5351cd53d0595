//! TODO (probe helper)
