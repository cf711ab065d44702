'use strict';
// A picker's choice from a pairing above the user's (a town clerk's meeting held during the
// county pairing's visit) may be chosen but not opened: its page answers 404. Django points
// the pencil and eye beside the picker at whatever is chosen; for such a choice they are left
// without an address, and the reason is written under the picker, where a keyboard or a screen
// reader finds it too (the picker is described by it), not only in the links' titles
// (partnerships/admin.py, in_scope).
{
    const $ = django.jQuery;

    function outsideScope(select) {
        const option = select.selectedOptions[0];
        if (!option || !option.value) {
            return false;
        }
        if (option.hasAttribute('data-outside-scope')) {
            return true;
        }
        // A choice found by searching: select2 keeps the search's result with it.
        return $(select).data('select2') !== undefined &&
            $(select).select2('data').some(function(item) {
                return item.id === option.value && item.outside_scope === true;
            });
    }

    // The picker itself and select2's box, which is what has the keyboard's focus.
    function described(select) {
        const wrapper = select.closest('.related-widget-wrapper');
        return [select].concat(Array.from(wrapper ? wrapper.querySelectorAll('.select2-selection') : []));
    }

    function describe(select, noteId, on) {
        described(select).forEach(function(element) {
            const ids = (element.getAttribute('aria-describedby') || '').split(' ').filter(function(id) {
                return id && id !== noteId;
            });
            if (on) {
                ids.push(noteId);
            }
            if (ids.length) {
                element.setAttribute('aria-describedby', ids.join(' '));
            } else {
                element.removeAttribute('aria-describedby');
            }
        });
    }

    $(document).on('django:update-related', '.related-widget-wrapper select', function(event) {
        const links = $(this).nextAll('.view-related, .change-related, .delete-related');
        const noteId = this.id + '-outside-scope';
        const wrapper = this.closest('.related-widget-wrapper');
        if (!outsideScope(this)) {
            // Another choice: Django gives the links its address; their own titles return.
            links.each(function() {
                if (this.dataset.outsideScope !== undefined) {
                    this.setAttribute('title', this.dataset.titleInScope);
                    delete this.dataset.outsideScope;
                    delete this.dataset.titleInScope;
                }
            });
            const note = document.getElementById(noteId);
            if (note) {
                note.remove();
            }
            describe(this, noteId, false);
            return;
        }
        event.preventDefault();
        const reason = this.dataset.outsideScopeTitle;
        links.each(function() {
            if (this.dataset.outsideScope === undefined) {
                this.dataset.titleInScope = this.getAttribute('title') || '';
                this.dataset.outsideScope = '';
            }
            this.removeAttribute('href');
            this.setAttribute('aria-disabled', 'true');
            this.setAttribute('title', reason);
        });
        if (wrapper && !document.getElementById(noteId)) {
            const note = document.createElement('div');
            note.id = noteId;
            note.className = 'help outside-scope-note';
            note.textContent = reason;
            wrapper.after(note);
        }
        describe(this, noteId, true);
    });
}
