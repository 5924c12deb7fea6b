// Status propagation macros. Our Abseil (20220623) ships absl::Status but no macros.
//
//   RETURN_IF_ERROR(DoThing());                 // returns the status if not ok
//   ASSIGN_OR_RETURN(auto value, MakeValue());  // unwraps a StatusOr or returns its status
#ifndef LINSPEC_COMMON_STATUS_MACROS_H_
#define LINSPEC_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace linspec::internal {
inline const absl::Status& ToStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace linspec::internal

#define LINSPEC_CONCAT_INNER_(a, b) a##b
#define LINSPEC_CONCAT_(a, b) LINSPEC_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                                                 \
  do {                                                                        \
    const auto& _linspec_st = (expr);                                         \
    if (!_linspec_st.ok()) return ::linspec::internal::ToStatus(_linspec_st); \
  } while (0)

#define LINSPEC_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  LINSPEC_ASSIGN_OR_RETURN_IMPL_(LINSPEC_CONCAT_(_linspec_sor_, __LINE__), lhs, expr)

#endif  // LINSPEC_COMMON_STATUS_MACROS_H_
