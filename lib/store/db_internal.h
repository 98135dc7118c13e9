// Between db.cpp (open_db, Row, with_transaction) and the two engines. Not for callers.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store/db.h"

namespace postern::store::internal {

// Engine constructors; open_db() picks one by the URL.
base::Result<std::unique_ptr<Db>> open_sqlite(const std::string& path, const DbOptions& options);
base::Result<std::unique_ptr<Db>> open_postgres(const std::string& conninfo,
                                                const DbOptions& options);

// The engines' errors start with these words, which is how retryable() and constraint()
// recognise them (and what the admin reads in the log). Inline: the PostgreSQL module
// does not link libpostern.
inline constexpr std::string_view kBusyTag = "database busy: ";
inline constexpr std::string_view kConstraintTag = "constraint violated: ";

// Errors the engines build, so retryable()/constraint() can recognise them.
inline base::Error busy_error(std::string message) {  // temporary, retryable
  return base::Error::temporary(std::string(kBusyTag) + message);
}
inline base::Error constraint_error(std::string message) {  // bad_data, constraint
  return base::Error::bad_data(std::string(kConstraintTag) + message);
}

}  // namespace postern::store::internal
