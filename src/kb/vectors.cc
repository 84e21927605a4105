#include "kb/vectors.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <filesystem>
#include <unordered_set>
#include <utility>

#include "crypto/encrypted_file.h"
#include "embed/batching_embedder.h"
#include "index/hnsw/distance.h"

namespace deepkb::kb {

namespace fs = std::filesystem;

void PendingVectors::Push(std::span<const int64_t> removed, std::span<const int64_t> added,
                          const std::vector<std::vector<float>>& vectors, hnsw::Metric metric) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (int64_t id : removed) ++removed_[static_cast<hnsw::Label>(id)];
  for (size_t i = 0; i < added.size(); ++i) {
    labels_.push_back(static_cast<hnsw::Label>(added[i]));
    std::vector<float> v = vectors[i];
    if (metric == hnsw::Metric::kCosine) hnsw::NormalizeInPlace(v.data(), v.size());
    vectors_.push_back(std::move(v));
  }
}

void PendingVectors::Pop(std::span<const int64_t> removed, size_t added) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (int64_t id : removed) {
    auto it = removed_.find(static_cast<hnsw::Label>(id));
    if (it != removed_.end() && --it->second == 0) removed_.erase(it);
  }
  added = std::min(added, labels_.size());
  labels_.erase(labels_.begin(), labels_.begin() + static_cast<std::ptrdiff_t>(added));
  vectors_.erase(vectors_.begin(), vectors_.begin() + static_cast<std::ptrdiff_t>(added));
}

std::vector<hnsw::SearchHit> PendingVectors::Search(
    std::span<const float> query, size_t k, hnsw::Metric metric, const hnsw::Filter* filter,
    std::unordered_set<hnsw::Label>* removed) const {
  std::vector<hnsw::SearchHit> hits;
  std::vector<float> q(query.begin(), query.end());
  if (metric == hnsw::Metric::kCosine) hnsw::NormalizeInPlace(q.data(), q.size());
  const hnsw::Kernels& kern = hnsw::ActiveKernels();
  std::shared_lock<std::shared_mutex> lock(mu_);
  removed->clear();
  for (const auto& [label, count] : removed_) removed->insert(label);
  if (k == 0) return hits;
  for (size_t i = 0; i < labels_.size(); ++i) {
    const hnsw::Label label = labels_[i];
    const std::vector<float>& v = vectors_[i];
    if (v.size() != q.size() || removed->count(label) || (filter && !filter->Allows(label))) {
      continue;
    }
    const float d = metric == hnsw::Metric::kL2 ? kern.l2_sqr(q.data(), v.data(), v.size())
                                                : 1.0f - kern.dot(q.data(), v.data(), v.size());
    hits.push_back({label, d});
  }
  lock.unlock();
  const size_t kk = std::min(k, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(kk), hits.end(),
                    [](const hnsw::SearchHit& a, const hnsw::SearchHit& b) {
                      return a.distance < b.distance ||
                             (a.distance == b.distance && a.label < b.label);
                    });
  hits.resize(kk);
  return hits;
}

std::string VectorSet::SnapshotPath(int64_t collection_id) const {
  return dir_ + "/" + std::to_string(collection_id) + ".hnsw";
}

// Remote embedders are wrapped so that chunks of concurrent ingests share requests (dynamic
// batching, batch size adapted to latency); ngram-hash runs in the caller's thread.
Result<std::unique_ptr<embed::Embedder>> VectorSet::CreateEmbedder(const std::string& spec) const {
  ASSIGN_OR_RETURN(auto e, embed::MakeEmbedder(spec, opts_.embedder));
  if (spec.rfind("ngram-hash", 0) == 0) return e;
  embed::BatchingOptions b;
  b.max_batch = opts_.embedder.max_batch;
  b.workers = 2;
  return std::unique_ptr<embed::Embedder>(
      std::make_unique<embed::BatchingEmbedder>(std::move(e), b));
}

Result<std::unique_ptr<embed::Embedder>> VectorSet::MakeEmbedder(const std::string& spec) {
  ASSIGN_OR_RETURN(auto e, CreateEmbedder(spec));
  ASSIGN_OR_RETURN(size_t dim, embed::Probe(*e));
  if (dim == 0) return InternalError("embedder '" + spec + "' reported dimension 0");
  return e;
}

Result<std::unique_ptr<hnsw::HnswIndex>> VectorSet::NewIndex(size_t dim) const {
  hnsw::HnswOptions o;
  o.dim = dim;
  o.metric = hnsw::Metric::kCosine;
  o.M = opts_.M;
  o.ef_construction = opts_.ef_construction;
  return hnsw::HnswIndex::Create(o);
}

Result<std::vector<std::vector<float>>> VectorSet::Embed(
    const VectorCollection& vc, const std::vector<std::string>& texts) const {
  if (texts.empty()) return std::vector<std::vector<float>>{};
  ASSIGN_OR_RETURN(auto vectors, vc.embedder->Embed(texts));
  if (vectors.size() != texts.size()) {
    return InternalError("embedder '" + vc.spec + "' returned " + std::to_string(vectors.size()) +
                         " vectors for " + std::to_string(texts.size()) + " texts");
  }
  for (const auto& v : vectors) {
    if (v.size() != vc.dim) {
      return InvalidArgumentError("embedder '" + vc.spec + "' returned a " +
                                  std::to_string(v.size()) + "-d vector but the collection is " +
                                  std::to_string(vc.dim) +
                                  "-d; if the model changed, run `deepkb index rebuild`");
    }
    double norm = 0;
    for (float x : v) {
      if (!std::isfinite(x)) {
        return InvalidArgumentError("embedder '" + vc.spec + "' returned NaN or Inf values");
      }
      norm += static_cast<double>(x) * x;
    }
    if (norm == 0) return InvalidArgumentError("embedder '" + vc.spec + "' returned a zero vector");
  }
  return vectors;
}

Status VectorSet::AddEmpty(const storage::CollectionRow& c,
                           std::unique_ptr<embed::Embedder> embedder) {
  auto vc = std::make_shared<VectorCollection>();
  vc->spec = c.embedder;
  vc->dim = static_cast<size_t>(c.dim);
  vc->embedder = std::move(embedder);
  ASSIGN_OR_RETURN(vc->index, NewIndex(vc->dim));
  std::lock_guard<std::mutex> lock(mu_);
  collections_[c.id] = std::move(vc);
  return Status::Ok();
}

Status VectorSet::Load(const storage::CollectionRow& c, storage::KbStore& store) {
  auto vc = std::make_shared<VectorCollection>();
  vc->spec = c.embedder;
  vc->dim = static_cast<size_t>(c.dim);
  if (vc->dim == 0) {
    return FailedPreconditionError("collection '" + c.name +
                                   "' has no recorded embedding dimension; run `deepkb index "
                                   "rebuild --collection " + c.name + "`");
  }
  // The embedder is created without contacting remote servers; a down server must not stop the
  // node from starting (keyword search and already-indexed vectors keep working).
  ASSIGN_OR_RETURN(vc->embedder, CreateEmbedder(c.embedder));

  const std::string path = SnapshotPath(c.id);
  std::error_code ec;
  if (fs::exists(path, ec)) {
    auto loaded = LoadSnapshotFile(c.id);
    if (!loaded.ok()) {
      spdlog::warn("vector index snapshot {} is unusable ({}); rebuilding from the database", path,
                   loaded.status().ToString());
    } else if (loaded->index->options().dim != vc->dim) {
      spdlog::warn("vector index snapshot {} has dimension {} but the collection has {}; "
                   "rebuilding", path, loaded->index->options().dim, vc->dim);
    } else {
      vc->index = std::move(loaded->index);
    }
  }
  if (!vc->index) {
    ASSIGN_OR_RETURN(vc->index, NewIndex(vc->dim));
  }

  // Reconcile with SQLite (the replay of whatever the snapshot does not cover).
  ASSIGN_OR_RETURN(std::vector<int64_t> live, store.LiveChunkIds(c.id));
  std::unordered_set<int64_t> live_set(live.begin(), live.end());
  size_t removed = 0, added = 0;
  for (hnsw::Label label : vc->index->Labels()) {
    if (!live_set.count(static_cast<int64_t>(label))) {
      RETURN_IF_ERROR(vc->index->Remove(label));
      ++removed;
    }
  }
  std::vector<int64_t> missing;
  for (int64_t id : live) {
    if (!vc->index->Contains(static_cast<hnsw::Label>(id))) missing.push_back(id);
  }
  std::unordered_set<int64_t> have_vector;
  RETURN_IF_ERROR(store.VectorsByIds(missing, [&](int64_t id, std::span<const float> v) -> Status {
    if (v.size() != vc->dim) {
      return DataLossError("stored vector of chunk " + std::to_string(id) + " has dimension " +
                           std::to_string(v.size()) + ", collection '" + c.name + "' has " +
                           std::to_string(vc->dim) + "; run `deepkb index rebuild`");
    }
    have_vector.insert(id);
    ++added;
    return vc->index->Add(static_cast<hnsw::Label>(id), v);
  }));

  // Chunks with no stored vector: embed now when that is cheap and local.
  std::vector<int64_t> no_vector;
  for (int64_t id : missing) {
    if (!have_vector.count(id)) no_vector.push_back(id);
  }
  if (!no_vector.empty() && c.embedder.rfind("ngram-hash", 0) == 0) {
    while (true) {
      ASSIGN_OR_RETURN(auto batch, store.ChunksMissingVectors(c.id, 512));
      if (batch.empty()) break;
      std::vector<int64_t> ids;
      std::vector<std::string> texts;
      for (auto& [id, text] : batch) {
        ids.push_back(id);
        texts.push_back(std::move(text));
      }
      ASSIGN_OR_RETURN(auto vectors, Embed(*vc, texts));
      RETURN_IF_ERROR(store.PutChunkVectors(ids, vectors));
      for (size_t i = 0; i < ids.size(); ++i) {
        RETURN_IF_ERROR(vc->index->Add(static_cast<hnsw::Label>(ids[i]), vectors[i]));
      }
      added += ids.size();
    }
    no_vector.clear();
  }
  vc->missing_vectors = no_vector.size();
  if (removed || added || vc->missing_vectors) {
    spdlog::info("collection '{}': vector index reconciled ({} added, {} removed, {} chunks "
                 "without vectors)", c.name, added, removed, vc->missing_vectors);
  }
  std::lock_guard<std::mutex> lock(mu_);
  collections_[c.id] = std::move(vc);
  return Status::Ok();
}

void VectorSet::Drop(int64_t collection_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    collections_.erase(collection_id);
  }
  std::error_code ec;
  fs::remove(SnapshotPath(collection_id), ec);
}

std::shared_ptr<VectorCollection> VectorSet::Install(int64_t collection_id,
                                                     std::shared_ptr<VectorCollection> vc) {
  std::error_code ec;
  fs::remove(SnapshotPath(collection_id), ec);
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(collections_[collection_id], std::move(vc));
}

std::shared_ptr<VectorCollection> VectorSet::Get(int64_t collection_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = collections_.find(collection_id);
  return it == collections_.end() ? nullptr : it->second;
}

Status VectorSet::SaveSnapshots(uint64_t covered_seq) const {
  std::vector<std::pair<int64_t, std::shared_ptr<VectorCollection>>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.assign(collections_.begin(), collections_.end());
  }
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return PermissionDeniedError("cannot create " + dir_ + ": " + ec.message());
  for (const auto& [id, vc] : all) {
    RETURN_IF_ERROR(SaveSnapshotFile(id, *vc->index, covered_seq));
  }
  return Status::Ok();
}

// ---- snapshot files, plaintext or encrypted --------------------------------------------------

namespace {

std::string SnapshotContext(int64_t collection_id) {
  return "index/" + std::to_string(collection_id) + ".hnsw";
}

}  // namespace

Result<hnsw::LoadedSnapshot> VectorSet::LoadSnapshotFile(int64_t collection_id) const {
  const std::string path = SnapshotPath(collection_id);
  if (!data_key_) return hnsw::LoadSnapshot(path);
  ASSIGN_OR_RETURN(std::string plain,
                   crypto::ReadFile(path, data_key_.get(), SnapshotContext(collection_id)));
  // hnsw::LoadSnapshot reads a path: hand it an anonymous in-memory file.
  const int fd = ::memfd_create("deepkb-snapshot", MFD_CLOEXEC);
  if (fd < 0) return UnavailableError("memfd_create failed: " + std::string(std::strerror(errno)));
  size_t done = 0;
  while (done < plain.size()) {
    const ssize_t n = ::write(fd, plain.data() + done, plain.size() - done);
    if (n <= 0) {
      ::close(fd);
      return UnavailableError("write to memfd failed");
    }
    done += static_cast<size_t>(n);
  }
  OPENSSL_cleanse(plain.data(), plain.size());
  auto loaded = hnsw::LoadSnapshot("/proc/self/fd/" + std::to_string(fd));
  ::close(fd);
  return loaded;
}

Status VectorSet::SaveSnapshotFile(int64_t collection_id, const hnsw::HnswIndex& index,
                                   uint64_t covered_seq) const {
  const std::string path = SnapshotPath(collection_id);
  if (!data_key_) return index.SaveSnapshot(path, covered_seq);
  auto staging = crypto::MakeRamStagingDir();
  if (!staging.ok()) {
    static std::once_flag warned;
    std::call_once(warned, [&] {
      spdlog::warn("encrypted vector index snapshots are not written ({}); the index is "
                   "rebuilt from the database at start", staging.status().message());
    });
    return Status::Ok();
  }
  const std::string staged = *staging + "/snapshot.hnsw";
  Status st = index.SaveSnapshot(staged, covered_seq);
  Result<std::string> plain = st.ok() ? crypto::ReadFile(staged, nullptr, "") : Result<std::string>(st);
  std::error_code ec;
  fs::remove_all(*staging, ec);
  if (!plain.ok()) return plain.status().WithContext("stage the vector index snapshot");
  st = crypto::WriteFileAtomic(path, *plain, data_key_.get(), SnapshotContext(collection_id));
  OPENSSL_cleanse(plain->data(), plain->size());
  return st;
}

}  // namespace deepkb::kb
