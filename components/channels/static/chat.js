/* Web chat client for components.channels.webchat.WebChatInput.
 *
 * Text goes over socket.io (Rasa's socketio protocol: session_request / session_confirm,
 * user_uttered / bot_uttered). Photos and voice messages are uploaded first (POST multipart to
 * the channel's /upload), and the message then carries only the returned reference in
 * metadata.attachments. The session id is issued and signed by the server (session_confirm);
 * it lives in localStorage, so a reload or a reconnect continues the same conversation (the shown
 * history is kept there too), and uploads name it in the X-Session-Id header. A refused message
 * or session comes back as a webchat_error event {code, message}, shown in the alert.
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
    who.textContent = entry.from === "user" ? "You said: " : "Assistant said: ";
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
        img.alt = "Photo you sent" + (media.name ? ": " + media.name : "");
        item.appendChild(img);
      } else if (url && media.kind === "audio") {
        var audio = document.createElement("audio");
        audio.controls = true;
        audio.src = url;
        audio.setAttribute("aria-label", "Your voice message");
        item.appendChild(audio);
      } else {
        var label = document.createElement("span");
        label.className = "media-label";
        label.textContent = (media.kind === "audio" ? "Voice message" : "Photo") +
          (media.name ? " (" + media.name + ")" : "");
        item.appendChild(label);
      }
    });
    if (entry.image) {
      var botImage = document.createElement("img");
      botImage.src = entry.image;
      botImage.alt = entry.alt || "Image from the assistant";
      item.appendChild(botImage);
    }
    if (entry.buttons && entry.buttons.length) {
      var group = document.createElement("div");
      group.className = "buttons";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "Suggested replies");
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

  function setConnection(text) {
    els.connection.textContent = text;
  }

  socket.on("connect", function () {
    setConnection("Connected");
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

  socket.on(config.errorEvent, function (error) {
    var message = (error && error.message) || "The assistant could not take that message.";
    if (error && error.code === "invalid_session") {
      // The server did not issue this session: forget it and ask for a new one.
      sessionId = null;
      localStorage.removeItem(SESSION_KEY);
      socket.emit("session_request", { session_id: null });
    }
    showAlert(message);
  });

  socket.on("disconnect", function () {
    setConnection("Connection lost, reconnecting…");
  });

  socket.on("connect_error", function () {
    setConnection(config.authRequired && !token ? "Not signed in" : "Cannot reach the assistant, retrying…");
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
      showAlert("Not connected to the assistant yet. Please try again in a moment.");
      return false;
    }
    var payload = { message: text, session_id: sessionId };
    if (references.length) {
      payload[config.metadataKey] = {
        attachments: references.map(function (p) { return p.reference; }),
      };
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
      remove.setAttribute("aria-label", "Remove " + (p.file.name || "attachment"));
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
      showAlert("The " + (kind === "audio" ? "voice message" : "photo") + " is larger than " +
        humanSize(limit) + ", which is the most I can accept. Could you send a smaller one?");
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
          throw new Error((body.error && body.error.message) ||
            "The file could not be uploaded (error " + res.status + "). Please try again.");
        });
      })
      .catch(function (error) {
        pending = pending.filter(function (q) { return q !== entry; });
        showAlert(error && error.message && error.message !== "Failed to fetch"
          ? error.message : "The file could not be uploaded. Please check your connection and try again.");
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
    els.recordLabel.textContent = on ? "Stop recording and send" : "Record a voice message";
    els.record.title = els.recordLabel.textContent;
    els.recording.hidden = !on;
    if (on) {
      var s = seconds || 0;
      els.recording.textContent = "Recording… " + Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2) +
        " (press the microphone button again to send)";
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
      showAlert("Voice messages are not supported in this browser.");
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
          showAlert("Nothing was recorded. Please check your microphone and try again.");
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
      showAlert("I can't use your microphone. Please allow microphone access and try again.");
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
