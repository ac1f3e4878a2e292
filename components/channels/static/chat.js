/* Web chat client for components.channels.webchat.WebChatInput.
 *
 * Text goes over socket.io (Rasa's socketio protocol: session_request / session_confirm,
 * user_uttered / bot_uttered). Photos and voice messages are uploaded first (POST multipart to
 * the channel's /upload), and the message then carries only the returned reference in
 * metadata.attachments. The session id is issued and signed by the server (session_confirm);
 * it lives in localStorage, so a reload or a reconnect continues the same conversation (the shown
 * history is kept there too), and uploads name it in the X-Session-Id header. A refused message
 * or session comes back as a webchat_error event {code, message, messages}, shown in the alert in
 * the page's language (messages.zh / messages.en; message is English).
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("webchat-config").textContent);
  var storagePrefix = "rasa-webchat:" + location.pathname + ":";
  var SESSION_KEY = storagePrefix + "session";
  var HISTORY_KEY = storagePrefix + "history";
  var TOKEN_KEY = storagePrefix + "token";
  var HISTORY_LIMIT = 200;
  var MAX_RECORDING_S = 60;

  var els = {
    chat: document.getElementById("chat"),
    messages: document.getElementById("messages"),
    alert: document.getElementById("alert"),
    connection: document.getElementById("connection"),
    form: document.getElementById("composer"),
    text: document.getElementById("text-input"),
    file: document.getElementById("file-input"),
    pending: document.getElementById("pending"),
    send: document.getElementById("send-button"),
    record: document.getElementById("record-button"),
    recordLabel: document.getElementById("record-label"),
    recording: document.getElementById("recording"),
  };


  // ---------------------------------------------------------------- page language (en / zh)
  // The page follows the browser's language (zh-* -> Chinese, anything else English) until the
  // customer picks one with the header switch (kept in localStorage). The assistant itself
  // answers in the language each message is written in.
  var STRINGS = {
    en: {
      connecting: "Connecting…", connected: "Connected", lost: "Connection lost, reconnecting…",
      notSignedIn: "Not signed in", unreachable: "Cannot reach the assistant, retrying…",
      conversation: "Conversation", dropHint: "Drop the photo to attach it",
      pendingList: "Attachments to send", attach: "Attach a photo",
      attachFile: "Attach a photo or audio file", yourMessage: "Your message",
      placeholder: "Type a message, paste or drop a photo…", record: "Record a voice message",
      stopRecord: "Stop recording and send", send: "Send", youSaid: "You said: ",
      assistantSaid: "Assistant said: ", photoYouSent: "Photo you sent", yourVoice: "Your voice message",
      voiceMessage: "Voice message", photo: "Photo", botImage: "Image from the assistant",
      suggested: "Suggested replies", refused: "The assistant could not take that message.",
      notConnected: "Not connected to the assistant yet. Please try again in a moment.",
      remove: "Remove ", attachment: "attachment",
      tooLarge: "The {kind} is larger than {limit}, which is the most I can accept. Could you send a smaller one?",
      kindVoice: "voice message", kindPhoto: "photo",
      uploadStatus: "The file could not be uploaded (error {status}). Please try again.",
      uploadFailed: "The file could not be uploaded. Please check your connection and try again.",
      recording: "Recording… {time} (press the microphone button again to send)",
      noVoice: "Voice messages are not supported in this browser.",
      nothingRecorded: "Nothing was recorded. Please check your microphone and try again.",
      noMicrophone: "I can't use your microphone. Please allow microphone access and try again.",
      switchTo: "中文", switchLabel: "切换到中文",
    },
    zh: {
      connecting: "正在连接…", connected: "已连接", lost: "连接已断开，正在重新连接…",
      notSignedIn: "未登录", unreachable: "无法连接到客服助手，正在重试…",
      conversation: "对话", dropHint: "松开即可添加照片",
      pendingList: "待发送的附件", attach: "添加照片",
      attachFile: "添加照片或音频文件", yourMessage: "您的消息",
      placeholder: "输入消息，可粘贴或拖入照片…", record: "录制语音消息",
      stopRecord: "停止录音并发送", send: "发送", youSaid: "您说：",
      assistantSaid: "客服助手说：", photoYouSent: "您发送的照片", yourVoice: "您的语音消息",
      voiceMessage: "语音消息", photo: "照片", botImage: "客服助手发送的图片",
      suggested: "推荐回复", refused: "客服助手无法接收这条消息。",
      notConnected: "还没有连接到客服助手，请稍后再试。",
      remove: "移除 ", attachment: "附件",
      tooLarge: "这个{kind}超过了 {limit}，这是我能接收的上限。可以发一个小一点的吗？",
      kindVoice: "语音消息", kindPhoto: "照片",
      uploadStatus: "文件上传失败（错误 {status}），请重试。",
      uploadFailed: "文件上传失败，请检查网络连接后重试。",
      recording: "正在录音… {time}（再按一次麦克风按钮即可发送）",
      noVoice: "这个浏览器不支持语音消息。",
      nothingRecorded: "没有录到声音，请检查麦克风后重试。",
      noMicrophone: "无法使用您的麦克风，请允许访问麦克风后重试。",
      switchTo: "English", switchLabel: "Switch to English",
    },
  };
  var LANGUAGE_KEY = "rasa-webchat:language";
  var connectionKey = "connecting"; // what the connection line says, re-said on a switch

  function browserLanguage() {
    var langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
    for (var i = 0; i < langs.length; i++) {
      var code = String(langs[i] || "").toLowerCase();
      if (code.indexOf("zh") === 0) return "zh";
      if (code.indexOf("en") === 0) return "en";
    }
    return "en";
  }

  var language = STRINGS[localStorage.getItem(LANGUAGE_KEY)] ? localStorage.getItem(LANGUAGE_KEY) : browserLanguage();

  function t(key, values) {
    var text = (STRINGS[language] && STRINGS[language][key]) || STRINGS.en[key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(values[name]); });
    return text;
  }

  /* Puts the page's own strings in the current language (data-i18n* attributes of index.html). */
  function applyLanguage() {
    document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
    var nodes = document.querySelectorAll("[data-i18n], [data-i18n-placeholder], [data-i18n-title], [data-i18n-aria-label]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      if (node.getAttribute("data-i18n")) node.textContent = t(node.getAttribute("data-i18n"));
      if (node.getAttribute("data-i18n-placeholder")) node.placeholder = t(node.getAttribute("data-i18n-placeholder"));
      if (node.getAttribute("data-i18n-title")) node.title = t(node.getAttribute("data-i18n-title"));
      if (node.getAttribute("data-i18n-aria-label")) node.setAttribute("aria-label", t(node.getAttribute("data-i18n-aria-label")));
    }
    els.connection.textContent = t(connectionKey);
  }

  var languageSwitch = document.getElementById("language-switch");
  if (languageSwitch) {
    languageSwitch.addEventListener("click", function () {
      language = language === "zh" ? "en" : "zh";
      localStorage.setItem(LANGUAGE_KEY, language);
      applyLanguage();
    });
  }
  applyLanguage();

  // An embedding site passes a JWT as #token=... (kept for this tab only).
  var hashToken = new URLSearchParams(location.hash.slice(1)).get("token");
  if (hashToken) {
    sessionStorage.setItem(TOKEN_KEY, hashToken);
    history.replaceState(null, "", location.pathname + location.search);
  }
  var token = sessionStorage.getItem(TOKEN_KEY);

  var sessionId = localStorage.getItem(SESSION_KEY);
  var pending = []; // {id, file, kind, state: uploading|ready|failed, reference, previewUrl}
  var nextPendingId = 1;

  // ---------------------------------------------------------------- messages and history
  function loadHistory() {
    try {
      return JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    } catch (e) {
      return [];
    }
  }

  function saveHistory(entries) {
    try {
      localStorage.setItem(HISTORY_KEY, JSON.stringify(entries.slice(-HISTORY_LIMIT)));
    } catch (e) {
      /* storage full or disabled: the conversation still works, only the reload history is lost */
    }
  }

  var historyEntries = loadHistory();

  function remember(entry) {
    historyEntries.push(entry);
    saveHistory(historyEntries);
  }

  function scrollToEnd() {
    els.messages.scrollTop = els.messages.scrollHeight;
  }

  function disableOldButtons() {
    var buttons = els.messages.querySelectorAll(".buttons button");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
  }

  /* entry: {from: "user"|"bot", text, image, media: [{kind, name}], buttons: [{title, payload}]};
   * live: object URLs for this page's own uploads (not stored). */
  function render(entry, live) {
    var item = document.createElement("li");
    item.className = "message " + entry.from;
    item.setAttribute("data-from", entry.from);
    var who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = entry.from === "user" ? t("youSaid") : t("assistantSaid");
    item.appendChild(who);
    if (entry.text) {
      var text = document.createElement("span");
      text.className = "text";
      text.textContent = entry.text;
      item.appendChild(text);
    }
    (entry.media || []).forEach(function (media, index) {
      var url = live && live[index];
      if (url && media.kind === "image") {
        var img = document.createElement("img");
        img.src = url;
        img.alt = t("photoYouSent") + (media.name ? ": " + media.name : "");
        item.appendChild(img);
      } else if (url && media.kind === "audio") {
        var audio = document.createElement("audio");
        audio.controls = true;
        audio.src = url;
        audio.setAttribute("aria-label", t("yourVoice"));
        item.appendChild(audio);
      } else {
        var label = document.createElement("span");
        label.className = "media-label";
        label.textContent = (media.kind === "audio" ? t("voiceMessage") : t("photo")) +
          (media.name ? " (" + media.name + ")" : "");
        item.appendChild(label);
      }
    });
    if (entry.image) {
      var botImage = document.createElement("img");
      botImage.src = entry.image;
      botImage.alt = entry.alt || t("botImage");
      item.appendChild(botImage);
    }
    if (entry.buttons && entry.buttons.length) {
      var group = document.createElement("div");
      group.className = "buttons";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", t("suggested"));
      entry.buttons.forEach(function (button) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = button.title;
        b.addEventListener("click", function () {
          sendMessage(button.payload, [], button.title);
        });
        group.appendChild(b);
      });
      item.appendChild(group);
    }
    els.messages.appendChild(item);
    scrollToEnd();
  }

  function showAlert(message) {
    els.alert.textContent = message;
    els.alert.hidden = !message;
  }

  // ---------------------------------------------------------------- socket.io
  var namespace = config.namespace && config.namespace !== "/" ? config.namespace : "";
  var socket = io(namespace || undefined, {
    path: config.socketPath,
    auth: token ? { token: token } : undefined,
  });

  function setConnection(key) {
    connectionKey = key;
    els.connection.textContent = t(key);
  }

  socket.on("connect", function () {
    setConnection("connected");
    // On every (re)connect: ask to join the stored session, so replies reach this tab.
    socket.emit("session_request", { session_id: sessionId });
  });

  socket.on("session_confirm", function (id) {
    var confirmed = typeof id === "string" ? id : id && id.session_id;
    if (confirmed && confirmed !== sessionId) {
      sessionId = confirmed;
      localStorage.setItem(SESSION_KEY, sessionId);
    }
    document.body.setAttribute("data-session-id", sessionId || "");
  });

  /* A refusal or file error in the page's language when the server wrote one, else its English
     message (the server sends {code, message, messages: {en, zh}}). */
  function errorText(error) {
    var own = error && error.messages && error.messages[language];
    return own || (error && error.message) || "";
  }

  socket.on(config.errorEvent, function (error) {
    var message = errorText(error) || t("refused");
    if (error && error.code === "invalid_session") {
      // The server did not issue this session: forget it and ask for a new one.
      sessionId = null;
      localStorage.removeItem(SESSION_KEY);
      socket.emit("session_request", { session_id: null });
    }
    showAlert(message);
  });

  socket.on("disconnect", function () {
    setConnection("lost");
  });

  socket.on("connect_error", function () {
    setConnection(config.authRequired && !token ? "notSignedIn" : "unreachable");
  });

  socket.on(config.botEvent, function (message) {
    var entry = { from: "bot" };
    if (message.text) entry.text = message.text;
    if (message.quick_replies && message.quick_replies.length) {
      entry.buttons = message.quick_replies.map(function (b) {
        return { title: b.title, payload: b.payload };
      });
    }
    if (message.buttons && message.buttons.length) {
      entry.buttons = message.buttons.map(function (b) {
        return { title: b.title, payload: b.payload };
      });
    }
    var attachment = message.attachment;
    if (attachment && attachment.type === "image" && attachment.payload && attachment.payload.src) {
      entry.image = attachment.payload.src;
    }
    if (!entry.text && !entry.image && !entry.buttons) return;
    disableOldButtons();
    remember(entry);
    render(entry);
  });

  // ---------------------------------------------------------------- sending
  function sendMessage(text, references, shownText) {
    if (!socket.connected || !sessionId) {
      showAlert(t("notConnected"));
      return false;
    }
    var payload = { message: text, session_id: sessionId };
    // The page language is a hint for the server (which recogniser hears a voice message when the
    // conversation has no language yet); the conversation's own language wins on the server.
    payload[config.metadataKey] = { language: language };
    if (references.length) {
      payload[config.metadataKey].attachments = references.map(function (p) { return p.reference; });
    }
    socket.emit(config.userEvent, payload);
    var entry = { from: "user" };
    if (shownText || text) entry.text = shownText || text;
    if (references.length) {
      entry.media = references.map(function (p) {
        return { kind: p.kind, name: p.reference.name || null };
      });
    }
    disableOldButtons();
    remember(entry);
    render(entry, references.map(function (p) { return p.previewUrl; }));
    showAlert("");
    return true;
  }

  function updateSendState() {
    var uploading = pending.some(function (p) { return p.state === "uploading"; });
    els.send.disabled = uploading;
    els.send.setAttribute("aria-disabled", uploading ? "true" : "false");
  }

  els.form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = els.text.value.trim();
    var ready = pending.filter(function (p) { return p.state === "ready"; });
    if (!text && !ready.length) return;
    if (sendMessage(text, ready, null)) {
      els.text.value = "";
      pending = pending.filter(function (p) { return p.state !== "ready"; });
      renderPending();
    }
  });

  els.text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      els.form.requestSubmit();
    }
  });

  // ---------------------------------------------------------------- uploads
  function kindOf(file) {
    if (/^image\//.test(file.type)) return "image";
    if (/^(audio|video)\//.test(file.type)) return "audio";
    return null;
  }

  function humanSize(bytes) {
    return bytes >= 1e6 ? (bytes / 1e6).toFixed(bytes % 1e6 ? 1 : 0) + " MB" : Math.round(bytes / 1e3) + " kB";
  }

  function renderPending() {
    els.pending.textContent = "";
    pending.forEach(function (p) {
      var item = document.createElement("li");
      item.setAttribute("data-state", p.state);
      if (p.kind === "image" && p.previewUrl) {
        var img = document.createElement("img");
        img.src = p.previewUrl;
        img.alt = "";
        item.appendChild(img);
      }
      var label = document.createElement("span");
      label.textContent = (p.file.name || (p.kind === "audio" ? "voice message" : "photo")) +
        (p.state === "uploading" ? " (uploading…)" : "");
      item.appendChild(label);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "✕";
      remove.setAttribute("aria-label", t("remove") + (p.file.name || t("attachment")));
      remove.addEventListener("click", function () {
        pending = pending.filter(function (q) { return q !== p; });
        renderPending();
      });
      item.appendChild(remove);
      els.pending.appendChild(item);
    });
    updateSendState();
  }

  /* Uploads one file; resolves with the pending entry (state ready) or null after showing why. */
  function upload(file, kind) {
    var limit = kind === "audio" ? config.maxAudioBytes : config.maxImageBytes;
    if (file.size > limit) {
      showAlert(t("tooLarge", { kind: kind === "audio" ? t("kindVoice") : t("kindPhoto"), limit: humanSize(limit) }));
      return Promise.resolve(null);
    }
    var entry = {
      id: nextPendingId++, file: file, kind: kind || "image", state: "uploading",
      previewUrl: URL.createObjectURL(file),
    };
    pending.push(entry);
    renderPending();
    var form = new FormData();
    form.append("file", file, file.name || (kind === "audio" ? "voice-message.webm" : "photo"));
    if (kind) form.append("type", kind);
    var headers = token ? { Authorization: "Bearer " + token } : {};
    if (sessionId) headers[config.sessionHeader] = sessionId;
    return fetch(config.uploadUrl, { method: "POST", body: form, headers: headers })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (body) {
          if (res.status === 201 && body.attachment) {
            entry.reference = body.attachment;
            entry.kind = body.attachment.type;
            entry.state = "ready";
            showAlert("");
            return entry;
          }
          throw new Error(errorText(body.error) || t("uploadStatus", { status: res.status }));
        });
      })
      .catch(function (error) {
        pending = pending.filter(function (q) { return q !== entry; });
        showAlert(error && error.message && error.message !== "Failed to fetch"
          ? error.message : t("uploadFailed"));
        return null;
      })
      .then(function (result) {
        renderPending();
        return result;
      });
  }

  function attachFiles(fileList) {
    Array.prototype.forEach.call(fileList || [], function (file) {
      upload(file, kindOf(file));
    });
  }

  els.file.addEventListener("change", function () {
    attachFiles(els.file.files);
    els.file.value = "";
  });

  els.text.addEventListener("paste", function (event) {
    var files = event.clipboardData && event.clipboardData.files;
    if (files && files.length) {
      event.preventDefault();
      attachFiles(files);
    }
  });

  var dragDepth = 0;
  els.chat.addEventListener("dragenter", function (event) {
    if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0) {
      dragDepth++;
      els.chat.classList.add("dragging");
    }
  });
  els.chat.addEventListener("dragleave", function () {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) els.chat.classList.remove("dragging");
  });
  els.chat.addEventListener("dragover", function (event) {
    event.preventDefault();
  });
  els.chat.addEventListener("drop", function (event) {
    event.preventDefault();
    dragDepth = 0;
    els.chat.classList.remove("dragging");
    if (event.dataTransfer) attachFiles(event.dataTransfer.files);
  });

  // ---------------------------------------------------------------- voice recording
  var recorder = null;
  var recordTimer = null;

  function setRecording(on, seconds) {
    els.record.setAttribute("aria-pressed", on ? "true" : "false");
    els.recordLabel.textContent = on ? t("stopRecord") : t("record");
    els.record.title = els.recordLabel.textContent;
    els.recording.hidden = !on;
    if (on) {
      var s = seconds || 0;
      els.recording.textContent = t("recording", { time: Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2) });
    }
  }

  function preferredAudioType() {
    var types = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
    for (var i = 0; i < types.length; i++) {
      if (window.MediaRecorder && MediaRecorder.isTypeSupported(types[i])) return types[i];
    }
    return "";
  }

  function startRecording() {
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      showAlert(t("noVoice"));
      return;
    }
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var type = preferredAudioType();
      var chunks = [];
      recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
      recorder.addEventListener("dataavailable", function (event) {
        if (event.data && event.data.size) chunks.push(event.data);
      });
      recorder.addEventListener("stop", function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        clearInterval(recordTimer);
        setRecording(false);
        var mime = (recorder.mimeType || type || "audio/webm").split(";")[0];
        recorder = null;
        var blob = new Blob(chunks, { type: mime });
        if (!blob.size) {
          showAlert(t("nothingRecorded"));
          return;
        }
        var ext = mime.indexOf("ogg") >= 0 ? "ogg" : mime.indexOf("mp4") >= 0 ? "m4a" : "webm";
        var file = new File([blob], "voice-message." + ext, { type: mime });
        upload(file, "audio").then(function (entry) {
          if (!entry) return;
          var text = els.text.value.trim();
          if (sendMessage(text, [entry], null)) {
            els.text.value = "";
            pending = pending.filter(function (p) { return p !== entry; });
            renderPending();
          }
        });
      });
      recorder.start(250);
      var started = Date.now();
      setRecording(true, 0);
      recordTimer = setInterval(function () {
        var s = Math.floor((Date.now() - started) / 1000);
        if (s >= MAX_RECORDING_S) stopRecording();
        else setRecording(true, s);
      }, 500);
    }).catch(function () {
      showAlert(t("noMicrophone"));
    });
  }

  function stopRecording() {
    if (recorder && recorder.state !== "inactive") recorder.stop();
  }

  els.record.addEventListener("click", function () {
    if (recorder) stopRecording();
    else startRecording();
  });

  // ---------------------------------------------------------------- start
  historyEntries.forEach(function (entry) { render(entry); });
  disableOldButtons();
  var last = els.messages.lastElementChild;
  if (last) {
    var lastButtons = last.querySelectorAll(".buttons button");
    for (var i = 0; i < lastButtons.length; i++) lastButtons[i].disabled = false;
  }
  renderPending();
})();
