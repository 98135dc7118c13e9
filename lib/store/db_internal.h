// Between db.cpp (open_db, Row, with_transaction) and the two engines. Not for callers.
#pragma once

#include <memory>
#include <string>

#include "store/db.h"

namespace postern::store::internal {

// Engine constructors; open_db() picks one by the URL.
base::Result<std::unique_ptr<Db>> open_sqlite(const std::string& path, const DbOptions& options);
base::Result<std::unique_ptr<Db>> open_postgres(const std::string& conninfo,
                                                const DbOptions& options);

// Errors the engines build, so retryable()/constraint() can recognise them.
base::Error busy_error(std::string message);        // temporary, retryable
base::Error constraint_error(std::string message);  // bad_data, constraint

}  // namespace postern::store::internal
