// Every string of the interface, one dictionary per language. The language follows the browser
// (navigator.languages) until the user picks one, which is remembered in localStorage.
// tests/ui/unit.test.mjs checks that both dictionaries have the same keys and that every key the
// code uses exists.
export const DICT = {
  en: {
    'nav.skip': 'Skip to content', 'nav.language': 'Language', 'nav.signOut': 'Sign out',
    'nav.chat': 'Chat', 'nav.kb': 'Knowledge bases', 'nav.search': 'Search', 'nav.admin': 'Admin',
    'role.admin': 'admin', 'role.writer': 'writer', 'role.reader': 'reader', 'role.guest': 'guest',

    'signin.title': 'Sign in', 'signin.key': 'API key', 'signin.submit': 'Sign in',
    'signin.help': 'Your key stays in this browser tab only and is sent only in request headers. The first admin key is in <data-dir>/admin.key.',
    'signin.invalid': 'That key was not accepted (unknown, revoked or expired).',
    'noaccess.keyTitle': 'This key has no access',
    'noaccess.keyText': 'This is a guest key: it cannot read any collection. Ask an administrator for a reader or writer key.',
    'noaccess.title': 'No access',
    'noaccess.text': 'Your key’s role does not allow this page.',

    'common.cancel': 'Cancel', 'common.close': 'Close', 'common.delete': 'Delete',
    'common.confirmDelete': 'Delete', 'common.more': 'Load more',

    'error.0': 'Cannot reach the server: {message}',
    'error.400': 'The request was not valid: {message}',
    'error.401': 'Your key is no longer accepted; sign in again. ({message})',
    'error.403': 'Your key is not allowed to do this: {message}',
    'error.404': 'Not found: {message}',
    'error.409': 'Conflict: {message}',
    'error.413': 'Too large: {message}',
    'error.415': 'Unsupported type: {message}',
    'error.429': 'Too many requests; retry in {retry} s. {message}',
    'error.503': 'The service or the language model is unavailable right now (retry in {retry} s): {message}',
    'error.504': 'The answer took too long: {message}',
    'error.507': 'The server’s disk is full: {message}',
    'error.other': 'Error {status}: {message}',
    'error.aborted': 'Stopped.',

    'chat.title': 'Chat', 'chat.model': 'Model', 'chat.knowledge': 'Knowledge base',
    'chat.noKnowledge': 'none (no retrieval)', 'chat.aliases': 'Knowledge aliases',
    'chat.upstreams': 'Models', 'chat.question': 'Your question',
    'chat.placeholder': 'Ask in English or Chinese… (Enter sends, Shift+Enter for a new line)',
    'chat.send': 'Send', 'chat.stop': 'Stop', 'chat.clear': 'Clear conversation',
    'chat.empty': 'No messages yet. Ask a question about your documents.',
    'chat.you': 'You', 'chat.assistant': 'Assistant', 'chat.reasoning': 'Reasoning',
    'chat.sources': 'Sources:', 'chat.thinking': 'Answering…', 'chat.done': 'Answer complete.',
    'chat.stopped': 'Stopped by you.', 'chat.failed': 'The answer failed.',
    'chat.extractive': 'Extractive answer: no language model was available, so these are the most relevant passages from the knowledge base.',
    'cite.document': 'Document', 'cite.collection': 'Collection', 'cite.source': 'Source',
    'cite.page': 'Page', 'cite.score': 'Score',

    'kb.title': 'Knowledge bases', 'kb.none': 'No collections yet.', 'kb.name': 'Name',
    'kb.documents': 'Documents', 'kb.chunks': 'Chunks', 'kb.embedder': 'Embedder',
    'kb.newName': 'New collection', 'kb.chunkTokens': 'Chunk tokens', 'kb.create': 'Create',
    'kb.created': 'Collection “{name}” created.', 'kb.deleted': 'Collection “{name}” deleted.',
    'kb.confirmDeleteCollection': 'Delete collection “{name}” and all its documents? This cannot be undone.',
    'kb.confirmDeleteDocument': 'Delete document “{id}”?',
    'kb.back': '← All knowledge bases', 'kb.upload': 'Upload files',
    'kb.dropTitle': 'Drop files here or click to choose',
    'kb.dropHint': 'txt, md, html, pdf, docx — each file becomes a document named after it.',
    'kb.waiting': 'waiting', 'kb.fileFailed': 'failed: {message}',
    'kb.file.created': 'added ({chunks} chunks)', 'kb.file.updated': 'updated ({chunks} chunks)',
    'kb.file.unchanged': 'unchanged',
    'kb.documentsTitle': 'Documents', 'kb.filter': 'Find documents',
    'kb.filterPlaceholder': 'id or title', 'kb.noDocuments': 'No documents yet.',
    'kb.noMatch': 'No document matches.', 'kb.docId': 'Id', 'kb.docTitle': 'Title',
    'kb.size': 'Size', 'kb.updated': 'Updated', 'kb.viewChunks': 'Chunks',
    'kb.docDeleted': 'Document “{id}” deleted.', 'kb.chunksOf': 'Chunks of {id}',
    'kb.pageN': 'page {n}', 'kb.tokensN': '{n} tokens',

    'search.title': 'Search playground', 'search.collection': 'Collection', 'search.query': 'Query',
    'search.mode': 'Mode', 'search.mode.hybrid': 'hybrid', 'search.mode.keyword': 'keyword',
    'search.mode.vector': 'vector', 'search.mode.auto': 'auto', 'search.topK': 'Results',
    'search.advanced': 'Fusion and filters', 'search.fusion': 'Fusion',
    'search.fusion.rrf': 'reciprocal rank (RRF)', 'search.fusion.weighted': 'weighted scores',
    'search.rrfK': 'RRF k', 'search.keywordWeight': 'Keyword weight',
    'search.vectorWeight': 'Vector weight', 'search.filter': 'Filter (JSON)',
    'search.filterHint': 'Metadata fields, doc_id and source; $in, $gte, $lt, $and, $or.',
    'search.submit': 'Search', 'search.badFilter': 'The filter is not valid JSON: {message}',
    'search.noCollections': 'No collections to search yet.',
    'search.summary': '{n} hits in {ms} ms ({mode}).', 'search.score': 'score',
    'search.keywordRank': 'keyword rank', 'search.vectorRank': 'vector rank',
    'search.source': 'source',

    'admin.title': 'Administration', 'admin.keys': 'API keys', 'admin.role': 'Role',
    'admin.scope': 'Collections (empty = all)', 'admin.expires': 'Expires',
    'admin.createKey': 'Create key',
    'admin.keyOnce': 'The new key is shown only once. Copy it now and keep it safe.',
    'admin.copy': 'Copy', 'admin.copied': 'Copied.', 'admin.copyManually': 'Select the key and copy it.',
    'admin.hideKey': 'Done', 'admin.keyId': 'Key id', 'admin.created': 'Created',
    'admin.state': 'State', 'admin.active': 'active', 'admin.revoked': 'revoked',
    'admin.expired': 'expired', 'admin.never': 'never', 'admin.allCollections': 'all',
    'admin.revoke': 'Revoke', 'admin.confirmRevoke': 'Revoke key {id}? Programs using it stop working at once.',
    'admin.revokedKey': 'Key {id} revoked.',
    'admin.audit': 'Audit log', 'admin.action': 'Action', 'admin.refresh': 'Refresh',
    'admin.time': 'Time', 'admin.resource': 'Resource', 'admin.result': 'Result',
    'admin.client': 'Client', 'admin.detail': 'Detail',
    'admin.sync': 'Sync peers', 'admin.syncNotConfigured': 'Sync is not configured on this node.',
    'admin.syncNone': 'No sync peers.',
    'admin.health': 'Node health', 'admin.ready': 'Ready: indexes loaded, storage writable.',
    'admin.notReady': 'Not ready.', 'admin.disk': 'Disk used',
    'admin.httpRequests': 'HTTP requests', 'admin.httpErrors': 'HTTP 5xx answers',
    'admin.indexes': 'Indexes', 'admin.upstreams': 'LLM upstreams',
    'admin.noUpstreams': 'No LLM upstream configured: chat answers are extractive.',
    'admin.upstream': 'Upstream', 'admin.circuit': 'Circuit', 'admin.queue': 'Queue',
    'admin.inFlight': 'In flight', 'admin.limit': 'Limit',
    'admin.circuit.closed': 'closed (healthy)', 'admin.circuit.half_open': 'half-open (probing)',
    'admin.circuit.open': 'open (failing)', 'admin.doctor': 'Checks', 'admin.check': 'Check',
  },
  zh: {
    'nav.skip': '跳到正文', 'nav.language': '语言', 'nav.signOut': '退出',
    'nav.chat': '对话', 'nav.kb': '知识库', 'nav.search': '检索', 'nav.admin': '管理',
    'role.admin': '管理员', 'role.writer': '编辑者', 'role.reader': '读者', 'role.guest': '访客',

    'signin.title': '登录', 'signin.key': 'API 密钥', 'signin.submit': '登录',
    'signin.help': '密钥只保存在当前浏览器标签页中，只通过请求头发送。第一个管理员密钥在 <data-dir>/admin.key。',
    'signin.invalid': '密钥无效（不存在、已吊销或已过期）。',
    'noaccess.keyTitle': '此密钥没有访问权限',
    'noaccess.keyText': '这是访客密钥，不能读取任何集合。请向管理员申请读者或编辑者密钥。',
    'noaccess.title': '无权访问',
    'noaccess.text': '你的密钥角色不允许访问此页面。',

    'common.cancel': '取消', 'common.close': '关闭', 'common.delete': '删除',
    'common.confirmDelete': '删除', 'common.more': '加载更多',

    'error.0': '无法连接服务器：{message}',
    'error.400': '请求无效：{message}',
    'error.401': '密钥已失效，请重新登录。（{message}）',
    'error.403': '你的密钥无权执行此操作：{message}',
    'error.404': '未找到：{message}',
    'error.409': '冲突：{message}',
    'error.413': '内容过大：{message}',
    'error.415': '不支持的类型：{message}',
    'error.429': '请求过多，请 {retry} 秒后重试。{message}',
    'error.503': '服务或语言模型暂时不可用（{retry} 秒后重试）：{message}',
    'error.504': '回答超时：{message}',
    'error.507': '服务器磁盘已满：{message}',
    'error.other': '错误 {status}：{message}',
    'error.aborted': '已停止。',

    'chat.title': '对话', 'chat.model': '模型', 'chat.knowledge': '知识库',
    'chat.noKnowledge': '无（不检索）', 'chat.aliases': '知识库别名',
    'chat.upstreams': '模型', 'chat.question': '你的问题',
    'chat.placeholder': '用中文或英文提问……（Enter 发送，Shift+Enter 换行）',
    'chat.send': '发送', 'chat.stop': '停止', 'chat.clear': '清空对话',
    'chat.empty': '还没有消息。就你的文档提个问题吧。',
    'chat.you': '你', 'chat.assistant': '助手', 'chat.reasoning': '推理过程',
    'chat.sources': '来源：', 'chat.thinking': '正在回答……', 'chat.done': '回答完成。',
    'chat.stopped': '已由你停止。', 'chat.failed': '回答失败。',
    'chat.extractive': '摘录式回答：当前没有可用的语言模型，以下是知识库中最相关的段落。',
    'cite.document': '文档', 'cite.collection': '集合', 'cite.source': '来源',
    'cite.page': '页码', 'cite.score': '得分',

    'kb.title': '知识库', 'kb.none': '还没有集合。', 'kb.name': '名称',
    'kb.documents': '文档数', 'kb.chunks': '分块数', 'kb.embedder': '向量模型',
    'kb.newName': '新集合', 'kb.chunkTokens': '分块词元数', 'kb.create': '创建',
    'kb.created': '已创建集合“{name}”。', 'kb.deleted': '已删除集合“{name}”。',
    'kb.confirmDeleteCollection': '删除集合“{name}”及其全部文档？此操作无法撤销。',
    'kb.confirmDeleteDocument': '删除文档“{id}”？',
    'kb.back': '← 全部知识库', 'kb.upload': '上传文件',
    'kb.dropTitle': '把文件拖到这里，或点击选择',
    'kb.dropHint': '支持 txt、md、html、pdf、docx，每个文件成为一个以文件名命名的文档。',
    'kb.waiting': '等待中', 'kb.fileFailed': '失败：{message}',
    'kb.file.created': '已添加（{chunks} 个分块）', 'kb.file.updated': '已更新（{chunks} 个分块）',
    'kb.file.unchanged': '未变化',
    'kb.documentsTitle': '文档', 'kb.filter': '查找文档',
    'kb.filterPlaceholder': '编号或标题', 'kb.noDocuments': '还没有文档。',
    'kb.noMatch': '没有匹配的文档。', 'kb.docId': '编号', 'kb.docTitle': '标题',
    'kb.size': '大小', 'kb.updated': '更新时间', 'kb.viewChunks': '分块',
    'kb.docDeleted': '已删除文档“{id}”。', 'kb.chunksOf': '{id} 的分块',
    'kb.pageN': '第 {n} 页', 'kb.tokensN': '{n} 个词元',

    'search.title': '检索试验场', 'search.collection': '集合', 'search.query': '查询',
    'search.mode': '模式', 'search.mode.hybrid': '混合', 'search.mode.keyword': '关键词',
    'search.mode.vector': '向量', 'search.mode.auto': '自动', 'search.topK': '结果数',
    'search.advanced': '融合与过滤', 'search.fusion': '融合方式',
    'search.fusion.rrf': '倒数排名融合（RRF）', 'search.fusion.weighted': '加权得分',
    'search.rrfK': 'RRF k 值', 'search.keywordWeight': '关键词权重',
    'search.vectorWeight': '向量权重', 'search.filter': '过滤条件（JSON）',
    'search.filterHint': '元数据字段、doc_id 和 source；支持 $in、$gte、$lt、$and、$or。',
    'search.submit': '检索', 'search.badFilter': '过滤条件不是有效的 JSON：{message}',
    'search.noCollections': '还没有可检索的集合。',
    'search.summary': '{n} 条结果，用时 {ms} 毫秒（{mode}）。', 'search.score': '得分',
    'search.keywordRank': '关键词排名', 'search.vectorRank': '向量排名',
    'search.source': '来源',

    'admin.title': '系统管理', 'admin.keys': 'API 密钥', 'admin.role': '角色',
    'admin.scope': '集合（留空表示全部）', 'admin.expires': '过期时间',
    'admin.createKey': '创建密钥',
    'admin.keyOnce': '新密钥只显示这一次，请立即复制并妥善保管。',
    'admin.copy': '复制', 'admin.copied': '已复制。', 'admin.copyManually': '请选中密钥后手动复制。',
    'admin.hideKey': '完成', 'admin.keyId': '密钥编号', 'admin.created': '创建时间',
    'admin.state': '状态', 'admin.active': '有效', 'admin.revoked': '已吊销',
    'admin.expired': '已过期', 'admin.never': '永不', 'admin.allCollections': '全部',
    'admin.revoke': '吊销', 'admin.confirmRevoke': '吊销密钥 {id}？使用它的程序将立即失效。',
    'admin.revokedKey': '已吊销密钥 {id}。',
    'admin.audit': '审计日志', 'admin.action': '操作', 'admin.refresh': '刷新',
    'admin.time': '时间', 'admin.resource': '资源', 'admin.result': '结果',
    'admin.client': '客户端', 'admin.detail': '详情',
    'admin.sync': '同步节点', 'admin.syncNotConfigured': '此节点未配置同步。',
    'admin.syncNone': '没有同步节点。',
    'admin.health': '节点健康', 'admin.ready': '就绪：索引已加载，存储可写。',
    'admin.notReady': '未就绪。', 'admin.disk': '磁盘使用',
    'admin.httpRequests': 'HTTP 请求数', 'admin.httpErrors': 'HTTP 5xx 响应数',
    'admin.indexes': '索引', 'admin.upstreams': '大模型上游',
    'admin.noUpstreams': '未配置大模型上游：对话回答为摘录式。',
    'admin.upstream': '上游', 'admin.circuit': '熔断器', 'admin.queue': '排队',
    'admin.inFlight': '处理中', 'admin.limit': '并发上限',
    'admin.circuit.closed': '闭合（正常）', 'admin.circuit.half_open': '半开（探测中）',
    'admin.circuit.open': '断开（故障）', 'admin.doctor': '检查', 'admin.check': '检查项',
  },
};

const STORE = 'deepkb.lang';
let current = 'en';

export function initialLang() {
  const saved = localStorage.getItem(STORE);
  if (saved && DICT[saved]) return saved;
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  for (const l of langs) {
    const base = String(l || '').toLowerCase().split('-')[0];
    if (DICT[base]) return base;
  }
  return 'en';
}

export function setLang(code, remember = true) {
  if (!DICT[code]) return;
  if (remember && code !== current) localStorage.setItem(STORE, code);
  current = code;
}

export const lang = () => current;

// The string for `key` in the current language ({name} placeholders filled from `vars`).
export function t(key, vars) {
  const s = DICT[current][key] ?? DICT.en[key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
}
