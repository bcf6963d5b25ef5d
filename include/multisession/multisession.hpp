// multisession — everything public, in one include.
#pragma once

#include <multisession/error.hpp>
#include <multisession/session.hpp>
#include <multisession/storage.hpp>
#include <multisession/storage/encrypted.hpp>
#include <multisession/storage/file.hpp>
#include <multisession/storage/memory.hpp>
#include <multisession/storage/open.hpp>
#include <multisession/storage/prefixed.hpp>
#include <multisession/storage/redis.hpp>
#include <multisession/storage/sqlite.hpp>
