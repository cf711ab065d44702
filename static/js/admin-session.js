'use strict';
// The admin's pages and an idle session (templates/admin/base_site.html, #session-notice).
// Typing sends no request, so a clerk writing a long visit record for half an hour was
// signed out unseen, and Save then lost everything typed. Here:
// - typing restarts the session's idle clock (at most once a minute);
// - five minutes before the session would end unused, the page says so;
// - once it has ended, the page says so and keeps what it holds: Save is held back until the
//   user has signed in again (in another tab), and then sent;
// - a form's CSRF token is taken afresh from the cookie as it is sent, since signing in again
//   (in another tab) changes it, and the form was refused as expired.
{
    const notice = document.getElementById('session-notice');
    if (notice) {
        const idle = Number(notice.dataset.idleSeconds) * 1000;
        const lead = Math.min(Number(notice.dataset.leadSeconds) * 1000, idle / 2);
        const aliveUrl = notice.dataset.aliveUrl;
        const cookieName = notice.dataset.csrfCookie;
        const RENEW_EVERY = 60 * 1000; // the server renews a session at most once a minute
        // When the session, as far as this page knows, was last used.
        let lastUse = Date.now();
        let renewing = false;
        let signedOut = false;

        const show = function(kind) {
            notice.querySelectorAll('[data-kind]').forEach(function(part) {
                part.hidden = part.dataset.kind !== kind;
            });
            notice.hidden = kind === null;
        };

        // Asks the server; `renew` restarts the idle clock. Resolves to whether signed in
        // (true on a network failure: the form's own request will tell).
        const ask = function(renew) {
            return fetch(aliveUrl + (renew ? '?renew=1' : ''), {
                credentials: 'same-origin',
                cache: 'no-store',
                headers: {'Accept': 'application/json'},
            }).then(function(response) {
                return response.ok ? response.json() : {signed_in: true};
            }).then(function(state) {
                if (state.signed_in) {
                    // Another tab may have used the session since: its time left says so.
                    lastUse = Date.now() - (idle - state.seconds_left * 1000);
                    signedOut = false;
                    show(null);
                } else {
                    signedOut = true;
                    show('ended');
                }
                return state.signed_in;
            }).catch(function() {
                return true;
            });
        };

        const used = function() {
            if (signedOut || renewing || Date.now() - lastUse < RENEW_EVERY) {
                return;
            }
            renewing = true;
            ask(true).finally(function() {
                renewing = false;
            });
        };
        ['input', 'change', 'keydown', 'pointerdown'].forEach(function(type) {
            document.addEventListener(type, used, {capture: true, passive: true});
        });
        notice.querySelector('[data-stay]').addEventListener('click', function() {
            ask(true);
        });

        // As the end nears, the server is asked (without renewing) how long is left: another
        // tab may have kept the session in use.
        let asking = false;
        window.setInterval(function() {
            const quiet = Date.now() - lastUse;
            if (signedOut || asking || quiet < idle - lead) {
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
        }, 15 * 1000);

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
            freshToken(form);
            if (form.dataset.sessionChecked === '1') {
                delete form.dataset.sessionChecked;
                return;
            }
            if (form.id === 'logout-form' || form.id === 'language-form') {
                return; // nothing typed to lose
            }
            if (!signedOut && Date.now() - lastUse < idle - lead) {
                return; // surely still signed in
            }
            // Possibly signed out: sent now, the form would be answered by the sign-in page,
            // and what it holds lost. It is sent once the server says the user is signed in.
            event.preventDefault();
            const submitter = event.submitter;
            ask(false).then(function(signedIn) {
                if (!signedIn) {
                    notice.scrollIntoView({block: 'nearest'});
                    return;
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
