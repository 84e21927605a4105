// HnswIndexImpl: the HnswIndex implementation (internal; shared by hnsw_index.cc and
// hnsw_snapshot.cc). The locking rules are documented at the top of hnsw_index.cc.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "index/hnsw/graph.h"
#include "index/hnsw/hnsw_index.h"
#include "index/hnsw/sync.h"

namespace deepkb::hnsw::internal {

// Vectors in int8 mode needed before the quantiser is fitted.
inline constexpr size_t kTrainSize = 1000;

Status ValidateOptions(const HnswOptions& opts);

class HnswIndexImpl final : public HnswIndex {
 public:
  HnswIndexImpl(const HnswOptions& opts, std::unique_ptr<Graph> graph);
  ~HnswIndexImpl() override;

  Status Add(Label label, std::span<const float> vector) override;
  Status Remove(Label label) override;
  bool Contains(Label label) const override;
  size_t size() const override;
  std::vector<Label> Labels() const override;
  Result<std::vector<SearchHit>> Search(std::span<const float> query, size_t k, size_t ef,
                                        const Filter* filter) const override;
  Status Compact() override;
  bool NeedsCompaction() const override;
  IndexStats Stats() const override;
  const HnswOptions& options() const override { return opts_; }
  Status SaveSnapshot(const std::string& path, uint64_t covered_seq) const override;

 private:
  struct DeltaOp {
    Label label;
    bool remove;
    std::vector<float> vec;
  };
  static constexpr size_t kLabelStripes = 256;

  // Copies, checks and (cosine) normalises a caller vector.
  Status Prepare(std::span<const float> in, std::vector<float>& out) const;
  std::mutex& LabelLock(Label label) { return label_locks_[(label * 0x9E3779B97F4A7C15ULL) >> 56]; }
  // Fits the int8 quantiser or reclaims tombstones when due (called by Add before its locks).
  void MaybeMaintain();
  static Status ApplyOp(Graph& g, const DeltaOp& op);
  Status BuildFrom(Graph& old, Graph& fresh);

  const HnswOptions opts_;

  // Gate between writers (Add/Remove: shared) and structural changes (reclaim, training,
  // Compact's start and swap, SaveSnapshot: exclusive). Searches never take it.
  mutable WriterGate gate_;
  // Grace periods for memory searches may still read.
  mutable Rcu rcu_;
  // Current graph; replaced only under gate_ exclusive, freed after a grace period.
  std::atomic<Graph*> graph_;
  // Serialises Add/Remove of labels hashing to the same stripe.
  std::mutex label_locks_[kLabelStripes];
  // One maintenance job at a time: reclaim, training or a whole Compact().
  std::mutex maint_mu_;
  // Set while Compact() rebuilds; Add/Remove then also log into delta_ (guarded by delta_mu_).
  // Written under gate_ exclusive, read under gate_ shared.
  bool compacting_ = false;
  std::mutex delta_mu_;
  std::vector<DeltaOp> delta_;
};

}  // namespace deepkb::hnsw::internal
