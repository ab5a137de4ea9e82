// Plain-text tables for people: columns padded to their widest cell, numbers right-aligned.
#pragma once

#include <string>
#include <vector>

namespace sluice::ctl {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  std::string render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// 1234567 -> "1.23M"; small numbers as they are.
std::string human_count(double n);
// Bytes -> "12.3 MB".
std::string human_bytes(double n);

}  // namespace sluice::ctl
