'use strict';
// The admin's pages and an idle session (templates/admin/base_site.html, #session-notice).
// Typing sends no request, so a clerk writing a long visit record for half an hour was
// signed out unseen, and Save then lost everything typed. Here:
// - typing restarts the session's idle clock (at most once a minute);
// - before the session would end unused, the page says so;
// - a form is sent only once the server says its user is still signed in (one small request
//   a save): signed out (idle, or from another tab), the page says so and keeps what it
//   holds; once the user has signed in again (in another tab), the form is sent, with the
//   CSRF token of that sign-in, which replaced the page's;
// - signed in as someone else meanwhile (a shared office computer), the form is not sent:
//   it would be saved, and recorded in the audit trail, as the other person's.
{
    const notice = document.getElementById('session-notice');
    if (notice) {
        const idle = Number(notice.dataset.idleSeconds) * 1000;
        const lead = Number(notice.dataset.leadSeconds) * 1000;
        const user = notice.dataset.user;
        const aliveUrl = notice.dataset.aliveUrl;
        const cookieName = notice.dataset.csrfCookie;
        const RENEW_EVERY = 60 * 1000; // the server renews a session at most once a minute
        const ASK_EVERY = 15 * 1000; // signed out: how often typing asks whether signed in again
        // When the session, as far as this page knows, was last used.
        let lastUse = Date.now();
        let lastAsked = 0;
        let renewing = false;
        // null: signed in as the page's user; 'ended': signed out; 'other': someone else.
        let away = null;

        const show = function(kind) {
            notice.querySelectorAll('[data-kind]').forEach(function(part) {
                part.hidden = part.dataset.kind !== kind;
            });
            notice.hidden = kind === null;
        };

        // Asks the server; `renew` restarts the idle clock. Resolves to whether the page's
        // user is signed in: true, false, or null when the server could not say (the form's
        // own request will tell).
        const ask = function(renew) {
            lastAsked = Date.now();
            return fetch(aliveUrl + (renew ? '?renew=1' : ''), {
                credentials: 'same-origin',
                cache: 'no-store',
                headers: {'Accept': 'application/json'},
            }).then(function(response) {
                return response.ok ? response.json() : null;
            }).then(function(state) {
                if (state === null) {
                    return null;
                }
                if (!state.signed_in) {
                    away = 'ended';
                } else if (String(state.user) !== user) {
                    away = 'other';
                } else {
                    // Another tab may have used the session since: its time left says so.
                    lastUse = Date.now() - (idle - state.seconds_left * 1000);
                    away = null;
                }
                show(away);
                return away === null;
            }).catch(function() {
                return null;
            });
        };

        const used = function() {
            if (renewing) {
                return;
            }
            if (away !== null) {
                // Signed in again in another tab? Then this page may go on.
                if (Date.now() - lastAsked >= ASK_EVERY) {
                    ask(false);
                }
                return;
            }
            if (Date.now() - lastUse < RENEW_EVERY) {
                return;
            }
            renewing = true;
            ask(true).finally(function() {
                renewing = false;
            });
        };
        ['input', 'change', 'keydown', 'pointerdown', 'focus'].forEach(function(type) {
            (type === 'focus' ? window : document).addEventListener(type, used, {capture: true, passive: true});
        });
        notice.querySelector('[data-stay]').addEventListener('click', function() {
            ask(true);
        });

        // As the end nears, the server is asked (without renewing) how long is left: another
        // tab may have kept the session in use.
        let asking = false;
        window.setInterval(function() {
            const quiet = Date.now() - lastUse;
            if (away !== null || asking || quiet < idle - lead) {
                return;
            }
            asking = true;
            ask(false).then(function(signedIn) {
                if (signedIn && Date.now() - lastUse >= idle - lead) {
                    show('warning');
                }
            }).finally(function() {
                asking = false;
            });
        }, ASK_EVERY);

        const freshToken = function(form) {
            const field = form.querySelector('input[name="csrfmiddlewaretoken"]');
            const cookie = document.cookie.split('; ').find(function(pair) {
                return pair.startsWith(cookieName + '=');
            });
            if (field && cookie) {
                field.value = decodeURIComponent(cookie.slice(cookieName.length + 1));
            }
        };

        document.addEventListener('submit', function(event) {
            const form = event.target;
            if (!form.querySelector('input[name="csrfmiddlewaretoken"]') || event.defaultPrevented) {
                return;
            }
            if (form.id === 'logout-form' || form.id === 'language-form') {
                return; // nothing typed to lose
            }
            if (form.dataset.sessionChecked === '1') {
                delete form.dataset.sessionChecked;
                return;
            }
            // Sent without asking, a form of a signed-out page was answered by the sign-in
            // page, and what it held was lost; one of someone else's sign-in was saved as
            // theirs. It is sent once the server says the page's user is signed in.
            event.preventDefault();
            if (form.dataset.sessionPending === '1') {
                return; // a second click while asking: sent once, not twice
            }
            form.dataset.sessionPending = '1';
            const submitter = event.submitter;
            ask(false).then(function(signedIn) {
                delete form.dataset.sessionPending;
                if (signedIn === false) {
                    const link = notice.querySelector('[data-kind="' + away + '"] a');
                    if (link) {
                        link.focus();
                    }
                    return;
                }
                if (signedIn) {
                    // The page's user, maybe signed in again since: that sign-in's token.
                    freshToken(form);
                }
                form.dataset.sessionChecked = '1';
                if (submitter) {
                    form.requestSubmit(submitter);
                } else {
                    form.requestSubmit();
                }
            });
        }, true);
    }
}
