// multisession — the prefixed decorator: one namespace (tenant) inside a shared store.
#pragma once

#include <multisession/storage.hpp>

namespace multisession {

/// A view of `inner` in which every key is stored as `prefix + key`. Enumeration and
/// remove_prefix see only this namespace, and hand back keys without the prefix, so two tenants
/// with different prefixes never see each other's entries. `prefix` must not be empty; choose
/// prefixes that are not prefixes of each other (end them with a separator such as ':').
/// Throws multisession::error (invalid_configuration) for an empty prefix or a null `inner`.
std::shared_ptr<storage> make_prefixed_storage(std::shared_ptr<storage> inner, std::string prefix);

} // namespace multisession
